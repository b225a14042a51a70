"""Which registry a build reaches: the shared cache's, and where a shard's images go."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from releasekit.build.cache_store import Remote
    from releasekit.build.images import Source
    from releasekit.core.workspace import Workspace

__all__ = ["image_registry", "remote_cache"]


def remote_cache(ws: Workspace, target: str, enabled: bool = True) -> Remote | None:
    """The shared cache in ``target``'s registry; None when off or the sandbox has none."""
    import os

    from releasekit.build.cache_store import Remote
    from releasekit.publish import targets

    if not enabled:
        return None
    if target == targets.SANDBOX:
        from releasekit.deploy import testbed

        host = testbed.recorded_registry(ws.root)
        return Remote.parse(f"{host}/ironcage", plain_http=True) if host else None
    chosen = targets.resolve(ws.manifest, target, None, credentials=False)
    table = ws.manifest.targets.get(target) or {}
    user_env, password_env = (
        str(table.get(k, "")) for k in ("registry_username_env", "registry_password_env")
    )
    return Remote.parse(
        chosen.registry,
        plain_http=chosen.plain_http,
        username=os.environ.get(user_env, "") if user_env else "",
        password=os.environ.get(password_env, "") if password_env else "",
    )


def image_registry(ws: Workspace, target: str) -> Source | None:
    """Where a shard pushes its images by digest (the merge's release tags those digests):
    ``target``'s registry, the shared cache's or not."""
    from releasekit.build.images import Source

    found = remote_cache(ws, target)
    if found is None:
        return None
    access = found.access
    auth = {"username": access.username, "password": access.password} if access.username else None
    return Source(found.host, found.namespace, auth)
