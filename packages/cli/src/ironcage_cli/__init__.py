"""ironcage-cli: the ``ironcage`` command (local sandbox runs and control panel agents)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
