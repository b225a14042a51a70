"""A cold `invoke release --yes` after setup, against a warm one of the next commit.

    .venv/bin/python bench/cold_release_bench.py

In a throwaway copy of the repository (its own git repository and sandbox, the platforms of
release.toml), the first `invoke release --yes` runs as on a machine that has just run
`scripts/setup.sh`: a new BuildKit state that only setup's last step has primed
(`invoke build.buildkit --prime`: the bases imported, the stages no commit changes built;
timed on its own and reported, not counted), no build cache, no dist/, a new sandbox. The
baseline, measured in the same run, is the release of the next commit (a `fix(sandbox)`)
in the same copy, with everything warm. Each step's seconds come from the release's state.
The goal (<= 45 s) is the cold release's; the ratio says how much of it is cold cost.
Results go to ``build/bench/cold-release.json`` and ``build/bench/cold-release.md``
(printed too).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import copy_repo  # noqa: E402

OUT = ROOT / "build" / "bench"
GOAL = 45.0
STATE_ENV = "RELEASEKIT_BUILDKIT_STATE"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.email=b@example.com", "-c", "user.name=B", *args],
        check=True,
        capture_output=True,
    )


def _invoke(root: Path, env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=root, env=env, capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"invoke {' '.join(args)} failed in {root}:\n{proc.stdout[-4000:]}")
    return seconds


def _steps(root: Path) -> dict[str, float]:
    state = json.loads((root / "build/release/state.json").read_text())
    return {name: float(step.get("seconds", 0)) for name, step in state["steps"].items()}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cold-release-") as scratch:
        root = copy_repo(Path(scratch) / "repo")
        _git(root, "init", "-q", "-b", "main")
        _git(root, "add", "-A")
        _git(root, "commit", "-qm", "feat: the first release")
        port = _port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEKIT_")}
        env.update(
            {
                STATE_ENV: str(Path(scratch) / "buildkit"),
                "PILOT_PORT": str(port),
                "PILOT_PROJECT": f"ironcage-bench-{port}",
                "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            }
        )
        try:
            primed = _invoke(root, env, "build.buildkit", "--prime")
            cold = _invoke(root, env, "release", "--yes")
            cold_steps = _steps(root)
            readme = root / "packages/sandbox/README.md"
            readme.write_text(readme.read_text() + "\nOne more line.\n")
            _git(root, "commit", "-qam", "fix(sandbox): one more line")
            warm = _invoke(root, env, "release", "--yes")
            warm_steps = _steps(root)
        finally:
            subprocess.run(
                [sys.executable, "-m", "invoke", "sandbox.down", "--purge"],
                cwd=root, env=env, capture_output=True, check=False,
            )  # fmt: skip
            subprocess.run(
                [sys.executable, "-m", "invoke", "build.buildkit", "--stop"],
                cwd=root, env=env, capture_output=True, check=False,
            )  # fmt: skip
    result = {
        "prime_s": round(primed, 1),
        "cold_s": round(cold, 1),
        "warm_s": round(warm, 1),
        "ratio": round(cold / warm, 2),
        "goal_s": GOAL,
        "met": cold <= GOAL,
        "cold_steps": cold_steps,
        "warm_steps": warm_steps,
    }
    rows = [
        ("cold `invoke release --yes` after setup", f"{cold:.1f} s (goal <= {GOAL:.0f} s)"),
        ("setup's `invoke build.buildkit --prime` before it (not counted)", f"{primed:.1f} s"),
        ("warm release of the next commit (baseline)", f"{warm:.1f} s"),
        ("cold / warm", f"{cold / warm:.2f}"),
        *(
            (
                f"step {name}: cold / warm",
                f"{cold_steps[name]:.1f} s / {warm_steps.get(name, 0):.1f} s",
            )
            for name in cold_steps
            if cold_steps[name] >= 0.5
        ),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "cold-release.json").write_text(json.dumps(result, indent=2) + "\n")
    table = "| measure | value |\n| --- | --- |\n" + "".join(f"| {a} | {b} |\n" for a, b in rows)
    (OUT / "cold-release.md").write_text(table)
    print(table)
    if not result["met"]:
        print(f"missed: the cold release took {cold:.1f} s, goal {GOAL:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
