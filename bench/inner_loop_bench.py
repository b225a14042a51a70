"""The inner loop: `nox -s affected` after a one-line marketing-site fix, against a full `nox`.

    .venv/bin/python bench/inner_loop_bench.py [--full-log ci.log --full-time ci.time]
                                               [--e2e-log e2e.log] [--runs 1]

In a throwaway copy of the repository (its own git repository: a base commit on `main`,
then a branch with a one-line fix in marketing-site), `nox -s affected` runs twice: the
first run makes the sessions' virtualenvs (uv's cache is warm), the second is the warm
inner loop that the goal is about. The full `nox` is not run again here by default (it
takes the machine for twenty minutes): ``--full-time`` reads the `time` output of a
recorded full run (``real XmY.Zs``), ``--full-log`` its nox log for the seconds of each
session (pytest's ``in N.NNs``), and ``--e2e-log`` the log of a later e2e session alone,
to estimate the full run with that e2e session in place of the recorded one. Results go to
``build/bench/inner-loop.json`` and ``build/bench/inner-loop.md`` (printed too).
"""

from __future__ import annotations

import argparse
import json
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


def affected_seconds(root: Path) -> tuple[float, list[str]]:
    """Seconds of one `nox -s affected` in ``root``, and the sessions it ran."""
    started = time.monotonic()
    proc = subprocess.run(
        [BIN / "nox", "-s", "affected"], cwd=root, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f"nox -s affected failed in {root}:\n{out[-4000:]}")
    return seconds, re.findall(r"^nox > \* ([\w-]+): success", out, re.M)


def real_seconds(path: Path) -> float | None:
    """``real XmY.Zs`` of a `time` output."""
    found = re.search(r"real\s+(\d+)m([\d.]+)s", path.read_text())
    return int(found.group(1)) * 60 + float(found.group(2)) if found else None


def session_seconds(path: Path) -> dict[str, float]:
    """Each session of a nox log and the seconds its pytest says it took."""
    seconds: dict[str, float] = {}
    current = ""
    for line in path.read_text().splitlines():
        started = re.match(r"nox > Running session ([\w-]+)", line)
        if started:
            current = started.group(1)
        took = re.search(r"=+ .* in ([\d.]+)s", line)
        if took and current:
            seconds[current] = float(took.group(1))
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="warm runs of nox -s affected")
    parser.add_argument("--full-time", type=Path, help="`time` output of a full nox run")
    parser.add_argument("--full-log", type=Path, help="the nox log of that full run")
    parser.add_argument("--e2e-log", type=Path, help="the nox log of a later e2e session alone")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="inner-loop-") as scratch:
        root = fixed_copy(Path(scratch))
        first, sessions = affected_seconds(root)
        warm = sorted(affected_seconds(root)[0] for _ in range(max(1, args.runs)))
    result: dict[str, object] = {
        "affected_first_s": round(first, 1),
        "affected_warm_s": round(warm[len(warm) // 2], 1),
        "affected_sessions": sessions,
    }
    full = real_seconds(args.full_time) if args.full_time else None
    rows = [
        ("`nox -s affected`, one-line marketing-site fix, warm", f"{warm[len(warm) // 2]:.0f} s")
    ]
    if full:
        ratio = warm[len(warm) // 2] / full
        result.update(full_nox_s=full, ratio=round(ratio, 3))
        rows.append(("full `nox`, recorded", f"{full / 60:.1f} min"))
        rows.append(("ratio (goal <= 0.1)", f"{ratio:.3f}"))
    if full and args.full_log and args.e2e_log:
        before = session_seconds(args.full_log).get("e2e")
        after = session_seconds(args.e2e_log).get("e2e")
        if before and after:
            estimate = full - before + after
            result.update(e2e_before_s=before, e2e_after_s=after, full_nox_estimate_s=estimate)
            rows.append(("e2e session: recorded -> now", f"{before:.0f} s -> {after:.0f} s"))
            rows.append(
                ("full `nox` with it (estimate; goal <= 10 min)", f"{estimate / 60:.1f} min")
            )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "inner-loop.json").write_text(json.dumps(result, indent=2) + "\n")
    table = "| measure | value |\n| --- | --- |\n" + "".join(f"| {a} | {b} |\n" for a, b in rows)
    (OUT / "inner-loop.md").write_text(table)
    print(f"sessions: {', '.join(sessions)}\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
