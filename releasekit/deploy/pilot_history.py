"""The pilot's deploy record: every deployment, in ``.sandbox/pilot/history.json``.

Each entry names the version (or release id) deployed, its outcome, the registry it pulled
from, and the digest each image ran, so a rollback runs exactly what was healthy before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from releasekit.core.errors import PublishError
from releasekit.core.files import write_json

__all__ = [
    "Action",
    "Deployment",
    "Status",
    "append",
    "history",
    "history_path",
    "pilot_dir",
    "previous_healthy",
    "rollback_target",
]

Status = Literal["healthy", "failed", "dry-run"]
Action = Literal["deploy", "rollback", "auto-rollback"]


@dataclass(frozen=True)
class Deployment:
    """One entry of the pilot's history."""

    version: str
    deployed_at: str
    status: Status
    action: Action = "deploy"
    registry: str = ""
    detail: str = ""
    app_version: str = ""
    """The version its services answered, when ``version`` is a release id."""
    images: dict[str, str] = field(default_factory=dict)
    """Image -> the digest it ran (empty: its tag ran)."""

    @property
    def answers(self) -> str:
        """The version its services answer on /health."""
        return self.app_version or self.version

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def pilot_dir(root: Path) -> Path:
    """The pilot's folder: settings, token and history."""
    return root / ".sandbox" / "pilot"


def history_path(root: Path) -> Path:
    return pilot_dir(root) / "history.json"


def history(root: Path) -> list[Deployment]:
    """Every deployment to the pilot, oldest first."""
    path = history_path(root)
    if not path.is_file():
        return []
    return [Deployment(**entry) for entry in json.loads(path.read_text(encoding="utf-8"))]


def append(root: Path, entry: Deployment) -> None:
    write_json(
        history_path(root),
        [e.to_json() for e in [*history(root), entry]],
        redacted=False,
        mode=0o644,
    )


def previous_healthy(entries: Sequence[Deployment], other_than: str) -> Deployment | None:
    """The latest healthy deployment of a version other than ``other_than``."""
    for entry in reversed(entries):
        if entry.status == "healthy" and entry.version != other_than:
            return entry
    return None


def rollback_target(entries: Sequence[Deployment], to: str | None) -> Deployment:
    """The entry a rollback restores: ``to``'s last healthy one, else the previous healthy."""
    current = entries[-1]
    if to is None:
        target = previous_healthy(entries, current.version)
        if target is None:
            ever = {e.version for e in entries} == {current.version}
            how = "was ever deployed to" if ever else "was ever healthy on"
            raise PublishError(f"nothing to roll back to: only {current.version} {how} the pilot.")
        return target
    healthy = [e for e in entries if e.status == "healthy" and e.version == to]
    if not healthy:
        known = sorted({e.version for e in entries if e.status == "healthy"})
        raise PublishError(
            f"Cannot roll the pilot back to {to}: it was never healthy there. Healthy "
            f"versions: {', '.join(known) or 'none'}."
        )
    if current.version == to and current.status == "healthy":
        raise PublishError(f"The pilot already runs {to}: nothing to roll back.")
    return healthy[-1]
