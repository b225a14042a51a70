"""A buildkitd of a test's own, started as the toolkit starts its own: state, config and
socket under a temporary folder, stopped at the end."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import require


@contextlib.contextmanager
def running_buildkitd(home: Path, registry: str = "") -> Iterator[tuple[str, str]]:
    """Start buildkitd under ``home`` (plain HTTP to a loopback ``registry``): (buildctl,
    address)."""
    from releasekit.build.images import buildkit

    require("buildkitd")
    buildctl = require("buildctl")
    home.mkdir(parents=True, exist_ok=True)
    env = {buildkit.STATE_ENV: str(home / "state")}
    # The socket lives below a short folder of its own: a unix socket path is short.
    socket_root = Path(tempfile.mkdtemp(prefix="rk-bk-"))
    try:
        daemon = buildkit.ensure(socket_root, [registry] if registry else [], environ=env)
        try:
            yield buildctl, daemon.address
        finally:
            buildkit.stop(env)
    finally:
        shutil.rmtree(socket_root, ignore_errors=True)
