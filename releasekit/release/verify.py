"""`invoke verify`: check a published release at its target, with the key the caller trusts."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from releasekit.core import version as versions
from releasekit.core.errors import PreflightError
from releasekit.core.workspace import TESTBED_DIR, Workspace
from releasekit.deploy import testbed
from releasekit.publish import assets, provenance, targets
from releasekit.publish.supply_chain import access, release_key, release_record
from releasekit.publish.targets import SANDBOX, Target
from releasekit.publish.verify import Row, verify_release

__all__ = ["Checked", "verify_version"]


@dataclass(frozen=True)
class Checked:
    """The verdict of `invoke verify`: which release, where, and one row per artifact."""

    version: str
    target: str
    rows: list[Row]


def _public_key(root: Path, target: Target, key: Path | None) -> Path | None:
    """The key to check signatures with; None for a target that does not sign at all."""
    if key is not None:
        if not key.is_file():
            raise PreflightError(f"The public key {key} does not exist: pass the release's key.")
        return key
    if target.kind == "sandbox":
        public = root / TESTBED_DIR / "keys" / "cosign.pub"
        if public.is_file():
            return public
    elif not target.signing_key_env:
        return None
    elif os.environ.get(target.signing_key_env):
        return release_key(root, target).public
    raise PreflightError(
        f"No public key to check target `{target.name}` with: pass --key PATH, the release's "
        f"{provenance.PUBLIC_KEY} as you received and trust it (it is also among the release "
        "assets, but a key fetched from where the artifacts are proves nothing)."
    )


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
    public = _public_key(root, target, key)
    rows = verify_release(record, folder, public, access(target), target.pypi_index, say)
    return Checked(chosen, target_name, rows)
