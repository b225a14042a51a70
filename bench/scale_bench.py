"""Scale-out benchmarks: the shared cache, a split build, the no-op build, multi-arch.

    .venv/bin/python bench/scale_bench.py [--runs 5] [--full]
    .venv/bin/python bench/compare.py --only cache,shards,noop,arch

Each comparison is baseline -> subject (ratio = subject / baseline), goal in brackets:

- cache: a cold `invoke build` (pushing to the shared cache) -> the same commit's `invoke
  build` in a fresh clone with empty local caches and only the sandbox registry (<= 0.15);
- shards: the cold one-machine build -> two shards of another commit built side by side
  (the slower one's wall time) plus the merge's cover check and adoption (<= 0.65);
- noop: `invoke --list` (the interpreter and invoke starting, the floor) -> a no-op
  `invoke build`, whole process (goal: <= 0.5 s);
- arch: amd64-only -> amd64+arm64 cold image builds (report only).

By default the workspace is the Python packages, the binary and the site (the artifacts the
shared cache of ``releasekit.build.cache_store`` holds; images share BuildKit's registry
cache); ``--full`` copies the whole repository, images included. Every copy is a
throwaway git repository with its own sandbox; nothing here touches the working tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from compare import Row, Side, markdown  # noqa: E402

from releasekit.build import shard as shards  # noqa: E402

BIN = Path(sys.executable).parent
SCALE = ("cache", "shards", "noop", "arch")


def _env(sandbox: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEKIT_")}
    env["PATH"] = f"{BIN}:{env['PATH']}"
    env["RELEASEKIT_SANDBOX"] = str(sandbox)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def _invoke(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "invoke"), *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(map(str, proc.args))}` exited {proc.returncode}:\n{tail}")
    return out


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout


class Workspaces:
    """Throwaway workspaces: each new one is its own commit, each clone the same commit."""

    def __init__(self, tmp: Path, full: bool) -> None:
        self.tmp, self.full, self.count = tmp, full, 0

    def new(self) -> Path:
        self.count += 1
        root = self.tmp / f"ws{self.count}"
        if self.full:
            from build_bench import copy_repo

            copy_repo(root)
            _git(root, "init", "-q", "-b", "main")
            _git(root, "add", "-A")
        else:
            from tests.integration.python.conftest import make_workspace

            make_workspace(root)
        (root / "bench-commit.txt").write_text(f"{self.count} {time.time_ns()}\n")
        _git(root, "add", "-A")
        _git(root, "-c", "user.email=b@example.com", "-c", "user.name=B", "commit", "-qm", "b")
        return root

    def clone(self, root: Path) -> Path:
        self.count += 1
        dest = self.tmp / f"ws{self.count}"
        _git(self.tmp, "clone", "-q", str(root), str(dest))
        return dest


def cache_row(spaces: Workspaces, env: dict[str, str]) -> tuple[Row, Path, float]:
    first = spaces.new()
    cold = _timed(lambda: _wait(_invoke(first, env, "build")))
    fresh = spaces.clone(first)
    out: list[str] = []
    warm = _timed(lambda: out.append(_wait(_invoke(fresh, env, "build"))))
    fetched = sum(1 for line in out[0].splitlines() if "cached (registry)" in line)
    row = Row(
        "Fresh runner with the registry cache vs cold build, whole `invoke build`",
        Side("cold invoke build (pushes to the shared cache)", cold),
        Side("fresh clone, empty local caches: invoke build", warm),
        goal=0.15,
        note=f"{fetched} artifacts reported `cached (registry)` by the fresh clone",
    )
    return row, first, cold


def shards_row(spaces: Workspaces, env: dict[str, str], one_machine: float) -> Row:
    source = spaces.new()
    runners = [spaces.clone(source) for _ in range(2)]
    started = time.perf_counter()
    procs = [_invoke(r, env, "build", "--shard", f"{i}/2") for i, r in enumerate(runners, 1)]
    walls = []
    for proc in procs:
        _wait(proc)
        walls.append(time.perf_counter() - started)
    slower = max(walls)

    def merge() -> None:
        tars = [r / "build" / "shards" / f"{i}-of-2.tar" for i, r in enumerate(runners, 1)]
        dest = spaces.tmp / "merge"
        records = [shards.read(f) for tar in tars for f in shards.unpack(tar, dest / tar.stem)]
        from releasekit.build import runner as builds
        from releasekit.core import manifest, workspace

        keys = builds.artifact_keys(workspace.load(manifest.load(source)))
        shards.check_cover(records, keys, records[0].version, records[0].commit)
        folder = dest / "dist"
        for record in records:
            for entry in record.artifacts.values():
                for rel in entry["files"]:
                    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(record.folder / rel, folder / rel)

    merging = _timed(merge)
    return Row(
        "Two shards side by side (slower shard + merge) vs one machine",
        Side("cold invoke build, one machine", one_machine),
        Side("slower of two `invoke build --shard` + merge", slower + merging),
        goal=0.65,
        note=f"shards {walls[0]:.1f} s and {walls[1]:.1f} s, merge {merging:.2f} s; both "
        "shards ran on this one machine's cores at once",
    )


def noop_row(built: Path, env: dict[str, str], runs: int) -> Row:
    base = [_timed(lambda: _wait(_invoke(built, env, "--list"))) for _ in range(runs)]
    subj = [_timed(lambda: _wait(_invoke(built, env, "build"))) for _ in range(runs)]
    return Row(
        "No-op `invoke build`, whole process (goal <= 0.5 s)",
        Side("invoke --list (start-up floor)", statistics.median(base), samples=base),
        Side("no-op invoke build", statistics.median(subj), samples=subj),
        note=f"no-op runs: {', '.join(f'{s:.2f}' for s in subj)} s",
    )


def arch_row() -> Row:
    return Row(
        "amd64+arm64 cold vs amd64 only (report)",
        Side("-"),
        Side("-"),
        note="not measured here: the images' platforms come from the BuildKit builder "
        "(release.toml platforms); this comparison runs with `--full` once it builds both",
    )


def rows(tmp: Path, runs: int, full: bool, only: set[str]) -> list[Row]:
    from releasekit.deploy import testbed

    spaces = Workspaces(tmp, full)
    home = spaces.new()
    env = _env(home / ".sandbox")
    _wait(_invoke(home, env, "sandbox.up"))
    found: list[Row] = []
    try:
        built, cold = None, None
        if only & {"cache", "shards", "noop"}:
            row, built, cold = cache_row(spaces, env)
            found += [row] if "cache" in only else []
        if "shards" in only and cold is not None:
            found.append(shards_row(spaces, env, cold))
        if "noop" in only and built is not None:
            found.append(noop_row(built, env, runs))
        if "arch" in only:
            found.append(arch_row())
    finally:
        testbed.down(home)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of the no-op build (median)")
    parser.add_argument("--full", action="store_true", help="the whole repository, images too")
    parser.add_argument("--only", default=",".join(SCALE), help=", ".join(SCALE))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        found = rows(Path(tmp), args.runs, args.full, set(args.only.split(",")))
    print(markdown(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
