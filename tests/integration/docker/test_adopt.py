"""A re-run finds its image in the registry: that image is smoke-tested, described and shipped."""

from __future__ import annotations

import contextlib
import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from releasekit.build import images
from releasekit.build import runner as builds
from releasekit.core import manifest, workspace
from releasekit.deploy import testbed
from releasekit.publish.registry import push_images
from tests.integration.docker.conftest import Built

pytestmark = pytest.mark.integration

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
IMAGE = "marketing-site"


def _manifest(host: str, repository: str, reference: str) -> tuple[str, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_V2}
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        return str(r.headers["Docker-Content-Digest"]), json.load(r)


def _tag_digests(host: str, repository: str) -> dict[str, str]:
    with urllib.request.urlopen(f"http://{host}/v2/{repository}/tags/list", timeout=5) as r:
        tags = json.load(r)["tags"]
    return {tag: _manifest(host, repository, tag)[0] for tag in tags}


def _delete_local(client: Any, image_id: str) -> None:
    with contextlib.suppress(docker.errors.ImageNotFound):
        for ref in client.images.get(image_id).tags:
            client.images.remove(ref, noprune=True)
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(image_id, force=True)


def test_a_rerun_adopts_the_registry_image_smoke_tests_and_describes_it(
    built: Built, client: Any, registry: testbed.Service, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(built.ws.root, root, ignore=shutil.ignore_patterns("dist", "build"))
    ws = workspace.load(manifest.load(root))
    version, original = built.version, built.results[IMAGE]
    repository = "adopt/" + IMAGE
    source = images.Source(registry.host, "adopt")
    # The first run: built (no layer cache: an image of its own) and pushed.
    (first,) = images.build_images(ws, version, images=[IMAGE], nocache=True, client=client)
    adopted_id = ""
    try:
        (pushed,) = push_images(ws, version, f"{registry.host}/adopt", images=[IMAGE])
        before = _tag_digests(registry.host, repository)
        _, body = _manifest(registry.host, repository, pushed.digest)
        shipped = str(body["config"]["digest"])
        assert shipped == first.image_id

        # A new machine: the local image is gone; nothing else changed.
        _delete_local(client, first.image_id)
        lines: list[str] = []
        rerun = builds.build(
            ws,
            ("images",),
            packages=[IMAGE],
            registry=source,
            progress=lines.append,
            verbose=True,
        )

        (outcome,) = rerun.outcomes
        assert (outcome.status, outcome.digest) == ("up to date", pushed.digest)
        assert outcome.destination == f"{registry.host}/{repository}"
        tagged = client.images.get(f"ironcage/{IMAGE}:{version}")
        adopted_id = str(tagged.id)
        assert adopted_id == shipped != original.image_id
        assert f"{registry.host}/{repository}@{pushed.digest}" in tagged.attrs["RepoDigests"]
        assert any("adopted" in line and pushed.digest in line for line in lines)
        bom = root / "dist" / version / "sbom" / f"{IMAGE}-{version}.cdx.json"
        assert images.subject_id(bom) == shipped
        subject = json.loads(bom.read_text())["metadata"]["component"]
        assert shipped.removeprefix("sha256:") in subject["purl"].replace("%3A", ":")
        smoked = images.smoke_image(IMAGE, version, client=client)
        assert smoked.health["version"] == version

        (again,) = push_images(ws, version, f"{registry.host}/adopt", images=[IMAGE])
        assert (again.status, again.digest) == ("up to date", pushed.digest)
        assert _tag_digests(registry.host, repository) == before
    finally:
        for image_id in {first.image_id, adopted_id} - {""}:
            _delete_local(client, image_id)
        kept = client.images.get(original.image_id)
        for ref in original.tags:
            kept.tag(*ref.rsplit(":", 1))


def test_the_push_sends_the_image_the_build_recorded_not_what_the_tag_names_now(
    built: Built, client: Any, registry: testbed.Service
) -> None:
    version, original = built.version, built.results[IMAGE]
    other = client.images.get(built.results["control-panel-web"].image_id)
    other.tag(f"ironcage/{IMAGE}", version)  # the local tag moved since the build
    try:
        (pushed,) = push_images(built.ws, version, f"{registry.host}/recorded", images=[IMAGE])
        _, body = _manifest(registry.host, f"recorded/{IMAGE}", pushed.digest)
        assert body["config"]["digest"] == original.image_id
    finally:
        client.images.get(original.image_id).tag(f"ironcage/{IMAGE}", version)
