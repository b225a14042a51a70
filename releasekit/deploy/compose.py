"""docker compose for the pilot: which command runs it, and the variables its file reads."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Mapping

from releasekit.core.errors import ToolMissingError
from releasekit.core.run import run
from releasekit.deploy import pilot_pins

__all__ = ["compose_command", "compose_env"]


@functools.cache
def compose_command() -> tuple[str, ...]:
    """``docker compose`` (the v2 plugin) when it works, else Debian's ``docker-compose``."""
    if shutil.which("docker"):
        found = run(["docker", "compose", "version"], check=False, mutates=False, quiet=True)
        if found.returncode == 0:
            return ("docker", "compose")
    if shutil.which("docker-compose"):
        return ("docker-compose",)
    raise ToolMissingError(
        "Neither `docker compose` nor `docker-compose` is installed; the pilot deployment needs "
        "one. Install it with `apt-get install docker-compose` (scripts/setup.sh)."
    )


def compose_env(
    registry: str,
    version: str,
    token: str,
    port: int,
    *,
    runtime_token: str = "",
    digests: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The variables docker/compose.yaml reads (passed through ``env=``, never written)."""
    return {
        "IRONCAGE_REGISTRY": registry,
        "IRONCAGE_VERSION": version,
        "CONTROL_PANEL_TOKEN": token,
        "AGENT_RUNTIME_TOKEN": runtime_token,
        "PILOT_PORT": str(port),
        **pilot_pins.digest_vars(digests),
    }
