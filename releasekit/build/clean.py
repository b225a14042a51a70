"""Make a machine new: empty the build's local caches (``invoke build.clean``).

Without ``every``: the build's scratch folders under ``build/`` (staging, logs, shards). With
``every``: also every local cache, so the next build finds only what the shared cache in
the registry holds: the artifact records and build times (``build/cache/``), the
wheelhouses, ``dist/``, and BuildKit's state (``$RELEASEKIT_BUILDKIT_STATE`` or
``~/.cache/releasekit/buildkit``), after stopping the toolkit's own buildkitd when one runs
on it (``buildkit.stop``). A builder named by ``BUILDKIT_HOST`` is someone else's and is
left alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from releasekit.build.images import buildkit

__all__ = ["SCRATCH", "clean"]

SCRATCH = ("build/python", "build/site-tarball", "build/logs", "build/shards")
_CACHES = ("build/cache", "build/wheelhouse", "build/site", "build/buildkit", "dist")


def clean(root: Path, *, every: bool = False) -> list[str]:
    """Remove the scratch folders (and with ``every`` the local caches); what was removed."""
    removed = []
    for rel in (*SCRATCH, *(_CACHES if every else ())):
        path = root / rel
        if path.exists():
            shutil.rmtree(path)
            removed.append(rel + "/")
    if every:
        state = buildkit.state_dir()
        if state.exists():
            pid = buildkit.stop()
            if pid is not None:
                removed.append(f"buildkitd (pid {pid})")
            shutil.rmtree(state)
            removed.append(str(state) + "/")
    return removed
