"""Make a machine new: empty the build's local caches (``invoke build.clean``).

Without ``every``: the build's scratch folders under ``build/`` (staging, logs, shards). With
``every``: also every local cache, so the next build finds only what the shared cache in
the registry holds: the artifact records and build times (``build/cache/``), the
wheelhouses, ``dist/``, and BuildKit's state (``$RELEASEKIT_BUILDKIT_STATE`` or
``~/.cache/releasekit/buildkit``), after stopping the toolkit's own buildkitd when one runs
on it (its pid is in ``daemon.json`` there). A builder named by ``BUILDKIT_HOST`` is
someone else's and is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

__all__ = ["SCRATCH", "buildkit_state", "clean"]

SCRATCH = ("build/python", "build/site-tarball", "build/logs", "build/shards")
_CACHES = ("build/cache", "build/wheelhouse", "build/site", "build/buildkit", "dist")
_STATE_ENV = "RELEASEKIT_BUILDKIT_STATE"
_WAIT = 20.0


def buildkit_state() -> Path:
    """The toolkit's BuildKit state folder."""
    chosen = os.environ.get(_STATE_ENV, "").strip()
    return Path(chosen) if chosen else Path.home() / ".cache" / "releasekit" / "buildkit"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_daemon(state: Path) -> int | None:
    """Stop the buildkitd recorded in ``state/daemon.json``; its pid, or None."""
    try:
        pid = json.loads((state / "daemon.json").read_text(encoding="utf-8")).get("pid")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(pid, int) or not _alive(pid):
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _WAIT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    return pid


def clean(root: Path, *, every: bool = False) -> list[str]:
    """Remove the scratch folders (and with ``every`` the local caches); what was removed."""
    removed = []
    for rel in (*SCRATCH, *(_CACHES if every else ())):
        path = root / rel
        if path.exists():
            shutil.rmtree(path)
            removed.append(rel + "/")
    if every:
        state = buildkit_state()
        pid = _stop_daemon(state)
        if pid is not None:
            removed.append(f"buildkitd (pid {pid})")
        if state.exists():
            shutil.rmtree(state)
            removed.append(str(state) + "/")
    return removed
