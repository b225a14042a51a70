"""The inner loop: `nox -s affected` after a one-line marketing-site fix, against a full `nox`.

    .venv/bin/python bench/inner_loop_bench.py [--runs 1] [--no-full]

Both are measured in one run, in one throwaway copy of the repository (its own git
repository: a base commit on `main`, then a branch `fix` with a one-line fix in
marketing-site). `nox --install-only` first makes every session's virtualenv, so both are
measured warm. Then the full `nox` runs once on `main` and `nox -s affected` ``--runs``
times on `fix` (the median is kept). While the full `nox` runs, the machine's CPU is read
from ``/proc/stat`` at each session's start and end: for each session its wall time, the
CPU seconds the machine spent (every process, the Docker daemon and the servers the tests
start included), and how busy the cores were. The CPU seconds divided by the cores are the
least wall time any ordering or parallelism of the same work could reach on this machine.

Results go to ``build/bench/inner-loop.json`` and ``build/bench/inner-loop.md`` (printed
too); the full run's nox log to ``build/bench/inner-loop-nox.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import copy_repo  # noqa: E402

OUT = ROOT / "build" / "bench"
BUILDER = "packages/marketing-site/src/ironcage_marketing_site/builder.py"
BIN = Path(sys.executable).parent
GOAL_FULL_S = 600
GOAL_RATIO = 0.1


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.email=b@example.com", "-c", "user.name=B", *args],
        check=True,
        capture_output=True,
    )


def fixed_copy(folder: Path) -> Path:
    """A copy of the repository with a one-line fix in marketing-site on branch `fix`."""
    root = copy_repo(folder / "repo")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    _git(root, "checkout", "-q", "-b", "fix")
    source = root / BUILDER
    source.write_text(source.read_text().replace('"""Render the site:', '"""Render this site:', 1))
    _git(root, "commit", "-qam", "fix(site): one line")
    return root


def busy_cpu_s() -> float:
    """CPU seconds the machine has spent busy since boot (every core, every process)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def nox(root: Path, *args: str, log: Path | None = None) -> list[tuple[str, float, float]]:
    """Run ``nox ARGS`` in ``root``; (session, wall s, busy CPU s) of each session it ran."""
    proc = subprocess.Popen(
        [BIN / "nox", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CI": "true"},
    )
    assert proc.stdout is not None
    sessions: list[tuple[str, float, float]] = []
    current: tuple[str, float, float] | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            name, t0, c0 = current
            sessions.append((name, time.monotonic() - t0, busy_cpu_s() - c0))

    for line in proc.stdout:
        lines.append(line)
        started = re.match(r"nox > Running session ([\w-]+)", line)
        if started:
            close()
            current = (started.group(1), time.monotonic(), busy_cpu_s())
    close()
    proc.wait()
    if log is not None:
        log.write_text("".join(lines))
    if proc.returncode != 0:
        done = "".join(f"{name}: {wall:.0f} s, CPU {cpu:.0f} s\n" for name, wall, cpu in sessions)
        tail = "".join(lines)[-4000:]
        raise SystemExit(f"nox {' '.join(args)} failed in {root}:\n{tail}\n{done}")
    return sessions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="warm runs of nox -s affected")
    parser.add_argument("--no-full", action="store_true", help="measure `nox -s affected` only")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="inner-loop-") as scratch:
        root = fixed_copy(Path(scratch))
        print("making every session's virtualenv (nox --install-only)", flush=True)
        nox(root, "--install-only")
        nox(root, "-s", "affected")  # makes its own virtualenv; not counted
        full: list[tuple[str, float, float]] = []
        if not args.no_full:
            # On `main`: the e2e session's own affected test makes the same fix in its copy.
            print("full nox on main (about twenty minutes on 2 cores)", flush=True)
            _git(root, "checkout", "-q", "main")
            full = nox(root, log=OUT / "inner-loop-nox.log")
            _git(root, "checkout", "-q", "fix")
        print("nox -s affected", flush=True)
        runs, walls = [], []
        for _ in range(max(1, args.runs)):
            started = time.monotonic()
            runs.append(nox(root, "-s", "affected"))
            walls.append(time.monotonic() - started)  # the whole command, as a developer waits
    walls.sort()
    affected = walls[len(walls) // 2]
    result: dict[str, object] = {
        "cores": cores,
        "affected_s": round(affected, 1),
        "affected_sessions": [s[0] for s in runs[0]],
    }
    rows = [
        (
            "`nox -s affected`, one-line marketing-site fix, warm",
            f"{affected:.0f} s ({', '.join(s[0] for s in runs[0])})",
        )
    ]
    sessions_md = ""
    if full:
        wall = sum(s[1] for s in full)
        cpu = sum(s[2] for s in full)
        result.update(
            full_s=round(wall, 1),
            full_busy_cpu_s=round(cpu, 1),
            full_floor_s=round(cpu / cores, 1),
            ratio=round(affected / wall, 3),
            sessions={n: {"wall_s": round(w, 1), "busy_cpu_s": round(c, 1)} for n, w, c in full},
        )
        rows += [
            (
                "full `nox`, warm",
                f"{wall:.0f} s = {wall / 60:.1f} min (goal <= {GOAL_FULL_S / 60:.0f} min)",
            ),
            ("affected / full", f"{affected / wall:.3f} (goal <= {GOAL_RATIO})"),
            (f"CPU the machine spent during the full `nox` ({cores} cores)", f"{cpu:.0f} s"),
            (
                "least wall time that CPU allows on these cores (CPU / cores)",
                f"{cpu / cores:.0f} s = {cpu / cores / 60:.1f} min",
            ),
        ]
        sessions_md = "\n| session | wall | busy CPU | cores busy |\n| --- | --- | --- | --- |\n"
        sessions_md += "".join(
            f"| {n} | {w:.0f} s | {c:.0f} s | {c / (w * cores):.0%} |\n" for n, w, c in full
        )
    (OUT / "inner-loop.json").write_text(json.dumps(result, indent=2) + "\n")
    table = "| measure | value |\n| --- | --- |\n" + "".join(f"| {a} | {b} |\n" for a, b in rows)
    (OUT / "inner-loop.md").write_text(table + sessions_md)
    print(table + sessions_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
