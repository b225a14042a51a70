"""Fail when a module of the engine is longer than the house limit (400 lines)."""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 400
ENGINE = Path(__file__).resolve().parent.parent / "releasekit"


def main() -> int:
    long = [
        (path.relative_to(ENGINE.parent), count)
        for path in sorted(ENGINE.rglob("*.py"))
        if (count := len(path.read_text("utf-8").splitlines())) > LIMIT
    ]
    for path, count in long:
        print(
            f"{path}: {count} lines, over the limit of {LIMIT}: split it by responsibility "
            "(one module per step, per destination or per tool).",
            file=sys.stderr,
        )
    return 1 if long else 0


if __name__ == "__main__":
    sys.exit(main())
