"""Fail when the README's table of `nox -s affected` rules differs from the rules the code runs."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from releasekit.core.affected import rules_table  # noqa: E402


def main() -> int:
    table = rules_table()
    if table in (ROOT / "README.md").read_text(encoding="utf-8"):
        return 0
    print(
        "README.md: the table of `nox -s affected` rules (section Tests) differs from "
        "releasekit/core/affected.py. Paste the output of `python -c 'from "
        "releasekit.core.affected import rules_table; print(rules_table())'` in its place.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
