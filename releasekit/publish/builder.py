"""Who built a release and when, as its provenance states it: never the run or the clock.

A release states its builder, its invocation and its times from the release itself (the
workflow, the tag, the commit and the commit's time), so a re-run on any machine signs
the same statement.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

__all__ = ["builder", "now", "stamp"]


def now() -> str:
    """The clock, for a provenance written outside a release (no commit time given)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(epoch: int) -> str:
    """``epoch`` (seconds) as the provenance writes times: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def builder(version: str = "", commit: str = "") -> tuple[str, str]:
    """(builder id, invocation id) of the release of ``version`` at ``commit``.

    Both depend only on the release, never on the run, the host or the clock, so a re-run
    on any machine writes the same statement: the GitHub workflow and the release's tag in
    Actions, ``https://releasekit.invalid/local`` and the commit elsewhere.
    """
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    workflow = os.environ.get("GITHUB_WORKFLOW_REF")
    if server and repo and workflow:
        return f"{server}/{workflow}", f"{server}/{repo}/releases/tag/v{version}"
    return "https://releasekit.invalid/local", f"local:v{version}@{commit}"
