"""Startup benchmark: how fast the toolkit answers before it does any work.

    .venv/bin/python bench/startup_bench.py [--runs 7]

Runs, interleaved in one process tree, `invoke --version` (invoke alone), `invoke --list`
(every task module loaded) and `invoke release --dry-run` (the whole release plan, nothing
changed) and prints the medians. Goals: `--list` within 1.5x of `--version`, the dry run
under 1 s. The dry run works in a temporary clone of HEAD on the release branch, so the
working tree's own state (branch, uncommitted files) does not matter. The commands run as a
user's do, with Python's bytecode cache (PYTHONDONTWRITEBYTECODE is dropped from their
environment; a warm-up run fills the cache). Results go to build/bench/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).with_name("invoke")
LIST_RATIO_GOAL = 1.5
DRY_RUN_GOAL = 1.0
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _clone(dest: Path) -> Path:
    """HEAD of this repository, checked out on the branch release.toml releases from."""
    branch = tomllib.loads((ROOT / "release.toml").read_text("utf-8"))["release"]["branch"]
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", "-B", branch], check=True)
    return dest


def _time(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=_ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed in {cwd}:\n{done.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (median)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        clone = _clone(Path(tmp) / "repo")
        cases = {
            "invoke --version": [str(INVOKE), "--version"],
            "invoke --list": [str(INVOKE), "--list"],
            "invoke release --dry-run": [str(INVOKE), "release", "--dry-run"],
        }
        for argv in cases.values():  # warm the file cache and the bytecode
            _time(argv, clone)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, argv in cases.items():
                samples[name].append(_time(argv, clone))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["invoke --list"] / medians["invoke --version"]
    dry = medians["invoke release --dry-run"]
    results = {
        "runs": runs,
        "median_seconds": {name: round(value, 3) for name, value in medians.items()},
        "list_over_version": round(ratio, 2),
        "goals": {
            "list_over_version_at_most": LIST_RATIO_GOAL,
            "dry_run_seconds_under": DRY_RUN_GOAL,
        },
        "met": {"list": ratio <= LIST_RATIO_GOAL, "dry_run": dry < DRY_RUN_GOAL},
    }
    out = ROOT / "build" / "bench" / "startup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("| command | median (s) |\n| --- | --- |")
    for name, value in medians.items():
        print(f"| `{name}` | {value:.3f} |")
    print(f"\n`--list` / `--version`: {ratio:.2f} (goal <= {LIST_RATIO_GOAL}); ", end="")
    print(f"dry run {dry:.3f} s (goal < {DRY_RUN_GOAL} s). Written to {out.relative_to(ROOT)}")
    return 0 if all(results["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
