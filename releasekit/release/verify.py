"""`invoke verify`: check a published release at its target, with the key the caller trusts."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from releasekit.core import version as versions
from releasekit.core.workspace import Workspace
from releasekit.deploy import testbed
from releasekit.publish import assets, targets
from releasekit.publish.rows import Row
from releasekit.publish.supply_chain import access, release_record
from releasekit.publish.targets import SANDBOX
from releasekit.publish.trust import trusted_key
from releasekit.publish.verify import verify_release

__all__ = ["Checked", "verify_version"]


@dataclass(frozen=True)
class Checked:
    """The verdict of `invoke verify`: which release, where, and one row per artifact."""

    version: str
    target: str
    rows: list[Row]


def verify_version(
    ws: Workspace,
    version: str | None,
    target_name: str,
    key: Path | None,
    say: Callable[[str], None] = lambda _line: None,
) -> Checked:
    """Verify release ``version`` (default: the workspace's) published to ``target_name``."""
    root = ws.root
    chosen = version or next(iter(versions.check(ws).values()))
    folder = root / "dist" / chosen
    if not (folder / "release.json").is_file() and os.environ.get("GITHUB_REPOSITORY"):
        folder = assets.download(f"v{chosen}", root / "build" / "verify" / chosen, say=say)
    record = release_record(folder)
    state = testbed.running(root) if target_name == SANDBOX else None
    target = targets.resolve(ws.manifest, target_name, state, credentials=False)
    public = trusted_key(root, target, key)
    rows = verify_release(
        record, folder, public, access(target), target.pypi_index, say, version=chosen
    )
    return Checked(chosen, target_name, rows)
