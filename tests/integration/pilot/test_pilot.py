"""The pilot deployment for real: docker compose runs the control panel images.

Versions A and B are real images from the test registry; C's API exits at start. The
compose project and port are unique to the test run, and torn down (with its volume) at
the end.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from releasekit.core.artifact import IMAGES_FILE, ImagePin, write_images
from releasekit.core.errors import PublishError
from releasekit.deploy import pilot, pilot_pins, testbed
from tests.conftest import REPO
from tests.integration.pilot.conftest import PilotImages

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("pilot")
    (home / "docker").mkdir()
    (home / "docker" / "compose.yaml").write_bytes((REPO / "docker" / "compose.yaml").read_bytes())
    yield home
    pilot.teardown(home, purge=True)


@pytest.fixture(scope="module")
def port() -> int:
    return testbed.free_port()


@pytest.fixture(scope="module")
def project() -> str:
    return f"ironcage-pilot-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _no_token_from_the_developer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTROL_PANEL_TOKEN", raising=False)
    monkeypatch.delenv("PILOT_PORT", raising=False)


def _api(root: Path, port: int, path: str, body: dict[str, str] | None = None) -> object:
    token = (pilot.pilot_dir(root) / "token").read_text().strip()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _trail(root: Path) -> list[tuple[str, str, str]]:
    return [(e.version, e.status, e.action) for e in pilot.history(root)]


def test_deploy_upgrade_rollback_and_automatic_rollback(
    root: Path, port: int, project: str, pilot_images: PilotImages
) -> None:
    a, b = pilot_images.good
    registry = pilot_images.registry

    first = pilot.deploy(root, a, registry, project=project, port=port)
    assert first.status == "healthy"
    verdict = pilot.health(root, a)
    assert (verdict.ok, verdict.version) == (True, a)
    assert {c.version for c in verdict.checks} == {a}
    _api(root, port, "/agents", {"name": "kept-across-versions"})

    assert pilot.deploy(root, b, registry).status == "healthy"
    assert pilot.health(root, b).version == b
    assert not pilot.health(root, a, timeout=0).ok
    assert "kept-across-versions" in json.dumps(_api(root, port, "/agents"))

    assert pilot.rollback(root).version == a
    assert pilot.health(root, a).ok

    with pytest.raises(
        PublishError, match=rf"Deploying {pilot_images.broken} .* Rolled back to {a}"
    ):
        pilot.deploy(root, pilot_images.broken, registry)
    assert pilot.health(root, a).ok
    assert "kept-across-versions" in json.dumps(_api(root, port, "/agents"))
    assert _trail(root) == [
        (a, "healthy", "deploy"),
        (b, "healthy", "deploy"),
        (a, "healthy", "rollback"),
        (pilot_images.broken, "failed", "deploy"),
        (a, "healthy", "auto-rollback"),
    ]
    assert pilot.probe(root) == (f"http://127.0.0.1:{port}", True)


def test_unpublished_version_is_refused_before_anything_changes(
    root: Path, pilot_images: PilotImages
) -> None:
    before = _trail(root)
    with pytest.raises(PublishError, match="could not be pulled"):
        pilot.deploy(root, "0.0.1", pilot_images.registry)
    assert _trail(root) == before


def test_only_images_signed_by_the_release_key_run_and_by_digest(
    root: Path, project: str, pilot_images: PilotImages, tmp_path: Path
) -> None:
    import docker

    from releasekit.core.errors import VerificationError
    from releasekit.deploy import pilot_images as pins
    from releasekit.publish import oci, signing
    from releasekit.publish.trust import Trust

    _, b = pilot_images.good
    access = oci.Access(plain_http=True)
    key, public = signing.generate_key_pair(tmp_path / "keys", "pilot-key-password")
    trust = Trust("test", public, access)
    before = _trail(root)
    with pytest.raises(VerificationError, match=r"Refusing to deploy 3 images not signed"):
        pilot.deploy(root, b, pilot_images.registry, trust=trust)
    assert _trail(root) == before, "nothing was pulled or started"
    registry = pilot.registry_path(pilot_images.registry)
    refs = pins.pinned(root, root / pilot.COMPOSE_FILE, b, registry, access)
    signer = signing.SigningKey(str(key), public, "pilot-key-password")
    for ref in refs.values():
        signing.sign(ref, signer, access)
    assert pilot.deploy(root, b, pilot_images.registry, trust=trust).status == "healthy"
    client = docker.from_env(version="auto")
    running = {
        c.labels["com.docker.compose.service"]: c.attrs["Config"]["Image"]
        for c in client.containers.list(filters={"label": f"com.docker.compose.project={project}"})
    }
    digests = {name: ref.split("@", 1)[1] for name, ref in refs.items()}
    assert running == {name: f"{registry}/{name}:{b}@{d}" for name, d in digests.items()}


def test_a_recorded_release_runs_by_digest(
    root: Path, port: int, project: str, pilot_images: PilotImages
) -> None:
    import docker

    _, b = pilot_images.good
    registry = pilot.registry_path(pilot_images.registry)
    client = docker.from_env()
    digests = {
        name: str(client.images.get_registry_data(f"{registry}/{name}:{b}").id)
        for name in pilot_pins.PILOT_IMAGES
    }
    write_images(
        root / "dist" / b / IMAGES_FILE,
        {n: ImagePin(f"{registry}/{n}", (b,), d) for n, d in digests.items()},
    )
    assert pilot.deploy(root, b, pilot_images.registry, project=project, port=port).status == (
        "healthy"
    )
    running = client.containers.list(filters={"label": f"com.docker.compose.project={project}"})
    assert sorted(c.attrs["Config"]["Image"] for c in running) == sorted(
        f"{registry}/{n}:{b}@{d}" for n, d in digests.items()
    )


def test_a_partial_release_runs_kept_and_released_images_by_digest(
    root: Path, port: int, project: str, pilot_images: PilotImages
) -> None:
    import docker

    a, b = pilot_images.good
    registry = pilot.registry_path(pilot_images.registry)
    client = docker.from_env()
    kept = {n: a for n in ("control-panel-api", "control-panel-web")}
    at = {**kept, "agent-runtime": b}  # agent-runtime released at b, the control panel kept at a
    digests = {
        name: str(client.images.get_registry_data(f"{registry}/{name}:{tag}").id)
        for name, tag in at.items()
    }
    release_id = f"agent-runtime-{b}+cli-{b}"
    write_images(
        root / "dist" / release_id / IMAGES_FILE,
        {n: ImagePin(f"{registry}/{n}", (at[n],), d) for n, d in digests.items()},
    )
    entry = pilot.deploy(root, release_id, pilot_images.registry, project=project, port=port)
    assert (entry.status, entry.version, entry.answers, entry.images) == (
        "healthy", release_id, a, digests,
    )  # fmt: skip
    assert pilot.health(root, a).ok  # the API answers its kept version
    running = client.containers.list(filters={"label": f"com.docker.compose.project={project}"})
    assert sorted(c.attrs["Config"]["Image"] for c in running) == sorted(
        f"{registry}/{n}:{a}@{d}" for n, d in digests.items()
    )
