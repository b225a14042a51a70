"""Running the images: /health, the HEALTHCHECK, the user, and the web's /api proxy."""

from __future__ import annotations

from typing import Any

import pytest

from releasekit.build import images
from releasekit.build.images.smoke import SmokeError
from tests.integration.docker.conftest import Built

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("name", "checks"),
    [
        ("agent-runtime", set()),
        ("control-panel-api", set()),
        ("control-panel-web", {"GET / html", "GET /api/health"}),
        ("marketing-site", set()),
    ],
)
def test_image_answers_health_as_non_root(
    built: Built, client: Any, name: str, checks: set[str]
) -> None:
    result = images.smoke_image(name, built.version, client=client)
    assert result.uid == 10001
    assert result.health["status"] == "ok"
    assert result.health["version"] == built.version
    assert {"GET /health 200", "healthy", *checks} <= set(result.checks)


def test_missing_image_is_a_clear_error(client: Any) -> None:
    with pytest.raises(SmokeError, match=r"ironcage/agent-runtime:0\.0\.0-missing does not exist"):
        images.smoke_image("agent-runtime", "0.0.0-missing", client=client)
