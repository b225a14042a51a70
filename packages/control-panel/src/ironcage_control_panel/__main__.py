"""Entry point: ``ironcage-control-panel`` / ``python -m ironcage_control_panel``."""

from __future__ import annotations

from ironcage_control_panel.server import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
