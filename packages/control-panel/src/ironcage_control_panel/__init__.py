"""IronCage control panel: a JSON API for managing agents, backed by SQLite."""

from __future__ import annotations

__version__ = "0.1.0"

from ironcage_control_panel.server import (
    ControlPanelServer,
    create_server,
)
from ironcage_control_panel.store import (
    Agent,
    AgentExistsError,
    AgentStore,
    ValidationError,
)

__all__ = [
    "Agent",
    "AgentExistsError",
    "AgentStore",
    "ControlPanelServer",
    "ValidationError",
    "__version__",
    "create_server",
]
