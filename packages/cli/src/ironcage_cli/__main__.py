"""Entry point for ``ironcage`` and ``python -m ironcage_cli``.

Absolute imports only, so this file also works as a PyInstaller entry script.
"""

from __future__ import annotations

from ironcage_cli.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
