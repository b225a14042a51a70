"""Publishing to a real registry: the recorded digests tagged, idempotence, conflicts, failures."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from releasekit.core.errors import ConflictError, PublishError
from releasekit.deploy import testbed
from releasekit.publish.registry import push_images
from tests.integration.docker.conftest import IMAGES, Built

pytestmark = pytest.mark.integration

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def _registry_tags(host: str, repository: str) -> list[str]:
    with urllib.request.urlopen(f"http://{host}/v2/{repository}/tags/list", timeout=5) as r:
        return sorted(json.load(r)["tags"])


def _registry_digest(host: str, repository: str, tag: str) -> str:
    request = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": ACCEPT},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        return str(r.headers["Docker-Content-Digest"])


def test_push_records_what_the_registry_holds(
    built: Built, client: Any, registry: testbed.Service
) -> None:
    results = push_images(built.ws, built.version, registry.host, client=client)
    assert {r.name: r.status for r in results} == dict.fromkeys(IMAGES, "pushed")
    # The digest the build recorded before anything was pushed is the one published.
    assert {r.name: r.digest for r in results} == {n: r.digest for n, r in built.results.items()}
    recorded = json.loads((built.ws.root / "dist" / built.version / "images.json").read_text())
    assert sorted(recorded) == sorted(IMAGES)
    for name, entry in recorded.items():
        assert entry["repository"] == f"{registry.host}/ironcage/{name}"
        assert entry["tags"] == [t.rpartition(":")[2] for t in built.results[name].tags]
        assert set(entry["tags"]) <= set(_registry_tags(registry.host, f"ironcage/{name}"))
        for tag in entry["tags"]:
            assert _registry_digest(registry.host, f"ironcage/{name}", tag) == entry["digest"]

    again = push_images(built.ws, built.version, registry.host, client=client)
    assert {r.name: r.status for r in again} == dict.fromkeys(IMAGES, "up to date")
    assert {r.name: r.digest for r in again} == {n: e["digest"] for n, e in recorded.items()}


def test_different_content_under_the_version_tag_is_a_conflict(
    built: Built, client: Any, registry: testbed.Service
) -> None:
    # Another image already holds agent-runtime's version tag in this namespace.
    other = client.images.get(f"ironcage/marketing-site:{built.version}")
    repository = f"{registry.host}/conflict/agent-runtime"
    other.tag(repository, built.version)
    for chunk in client.images.push(repository, tag=built.version, stream=True, decode=True):
        assert "error" not in chunk, chunk
    with pytest.raises(
        ConflictError, match=rf"agent-runtime:{built.version} already exists .* with digest"
    ):
        push_images(
            built.ws,
            built.version,
            f"{registry.host}/conflict",
            images=["agent-runtime"],
            client=client,
        )
    client.images.remove(f"{repository}:{built.version}")


def test_unreachable_registry_records_nothing(built: Built, client: Any) -> None:
    recorded = built.ws.root / "dist" / built.version / "images.json"
    recorded.unlink(missing_ok=True)
    dead = f"127.0.0.1:{testbed.free_port()}"
    with pytest.raises(PublishError, match=rf"Cannot reach the registry at http://{dead}"):
        push_images(built.ws, built.version, dead, client=client)
    assert not recorded.exists()
