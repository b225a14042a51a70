"""Third-party images in the target's registry, by digest: the sandbox's stand-in and a refusal."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from releasekit.build.images import bases
from releasekit.core import manifest, oci
from releasekit.core.errors import PreflightError
from releasekit.deploy import testbed
from releasekit.publish import third_party
from releasekit.publish.targets import Target
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def _target(registry: str, kind: Any = "sandbox") -> Target:
    return Target("t", kind, "http://i", "http://i/simple", registry, "", "", plain_http=True)


def _served(host: str, repository: str, reference: str) -> str:
    request = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{reference}",
        method="HEAD",
        headers={"Accept": ", ".join(oci.MANIFEST_TYPES)},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        return str(r.headers["Docker-Content-Digest"])


def test_the_sandbox_uploads_its_stand_in_from_its_layout_as_it_is(
    client: Any, registry: testbed.Service
) -> None:
    """The recorded OCI layout is uploaded without recompressing: the registry serves the
    layout's own index digest, and nothing goes through Docker Engine."""
    (redis,) = manifest.load(REPO).third_party
    local = bases.local_base(redis.local)
    assert local is not None, f"no recorded OCI layout of {redis.local}: run scripts/setup.sh"
    target = _target(f"{registry.host}/layout")
    lines: list[str] = []
    pin = _provide_twice(registry, target, redis, lines)
    assert pin.digest == local.digest
    assert any(f"from {local.layout}" in line for line in lines)
    served = oci.fetch_manifest(registry.host, "layout/redis", pin.digest, oci.Access(True))
    assert (
        served is not None
        and served.content
        == (local.layout / "blobs" / "sha256" / local.digest.removeprefix("sha256:")).read_bytes()
    )


def test_the_sandbox_pushes_its_stand_in_with_docker_without_a_layout(
    client: Any, registry: testbed.Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (redis,) = manifest.load(REPO).third_party
    record = bases.record_path()
    lines = [x for x in record.read_text().splitlines() if not x.startswith(f"oci:{redis.local} ")]
    (tmp_path / "base-images").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv(bases.RECORD_ENV, str(tmp_path / "base-images"))
    monkeypatch.setenv(bases.LAYOUTS_ENV, str(record.parent / "oci"))
    assert bases.local_base(redis.local) is None
    target = _target(f"{registry.host}/third")
    said: list[str] = []
    try:
        pin = _provide_twice(registry, target, redis, said)
        local = client.images.get(redis.local)
        assert f"{pin.repository}@{pin.digest}" in local.attrs["RepoDigests"]
    finally:
        client.images.remove(f"{registry.host}/third/redis:{third_party.SANDBOX_TAG}")


def _provide_twice(
    registry: testbed.Service,
    target: Target,
    redis: manifest.ThirdPartyImage,
    lines: list[str],
) -> third_party.ThirdPartyPin:
    (pin,) = third_party.provide(REPO, target, say=lines.append)
    namespace = target.registry.rpartition("/")[2]
    assert pin.repository == f"{registry.host}/{namespace}/redis"
    assert pin.digest == _served(registry.host, f"{namespace}/redis", third_party.SANDBOX_TAG)
    assert (pin.pinned, pin.source, pin.local) == (redis.digest, redis.source, redis.local)

    (again,) = third_party.provide(REPO, target, say=lines.append)
    assert again == pin
    assert any("already at" in line for line in lines)
    third_party.require([pin], target)
    with urllib.request.urlopen(f"http://{registry.host}/v2/{namespace}/redis/tags/list") as r:
        assert json.load(r)["tags"] == [third_party.SANDBOX_TAG]
    return pin


def test_a_real_target_without_the_pinned_image_is_refused(registry: testbed.Service) -> None:
    (redis,) = manifest.load(REPO).third_party
    target = _target(f"{registry.host}/elsewhere", kind="remote")
    (pin,) = third_party.provide(REPO, target)
    assert (pin.repository, pin.digest) == (f"{registry.host}/elsewhere/redis", redis.digest)
    assert third_party.missing([pin], target) == [pin]
    with pytest.raises(
        PreflightError,
        match=rf"does not hold {registry.host}/elsewhere/redis@{redis.digest}.*nothing may "
        rf"deploy it.*crane copy docker.io/library/redis@{redis.digest}",
    ):
        third_party.require(third_party.pins_of(REPO, "0.0.0-none", target), target)
