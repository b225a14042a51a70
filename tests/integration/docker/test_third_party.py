"""Third-party images in the target's registry, by digest: the sandbox's stand-in and a refusal."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from releasekit.core import manifest
from releasekit.core.errors import PreflightError
from releasekit.deploy import testbed
from releasekit.publish import third_party
from releasekit.publish.targets import Target
from tests.conftest import REPO

pytestmark = pytest.mark.integration

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def _target(registry: str, kind: Any = "sandbox") -> Target:
    return Target("t", kind, "http://i", "http://i/simple", registry, "", "", plain_http=True)


def _served(host: str, repository: str, reference: str) -> str:
    request = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{reference}",
        method="HEAD",
        headers={"Accept": MANIFEST_V2},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        return str(r.headers["Docker-Content-Digest"])


def test_the_sandbox_pushes_its_stand_in_and_pins_the_served_digest(
    client: Any, registry: testbed.Service
) -> None:
    (redis,) = manifest.load(REPO).third_party
    target = _target(f"{registry.host}/third")
    lines: list[str] = []
    try:
        _provide_twice(client, registry, target, redis, lines)
    finally:
        client.images.remove(f"{registry.host}/third/redis:{third_party.SANDBOX_TAG}")


def _provide_twice(
    client: Any,
    registry: testbed.Service,
    target: Target,
    redis: manifest.ThirdPartyImage,
    lines: list[str],
) -> None:
    (pin,) = third_party.provide(REPO, target, client=client, say=lines.append)
    assert pin.repository == f"{registry.host}/third/redis"
    assert pin.digest == _served(registry.host, "third/redis", third_party.SANDBOX_TAG)
    assert (pin.pinned, pin.source, pin.local) == (redis.digest, redis.source, redis.local)
    local = client.images.get(redis.local)
    assert f"{pin.repository}@{pin.digest}" in local.attrs["RepoDigests"]

    (again,) = third_party.provide(REPO, target, client=client, say=lines.append)
    assert again == pin
    assert any("already at" in line for line in lines)
    third_party.require([pin], target)
    with urllib.request.urlopen(f"http://{registry.host}/v2/third/redis/tags/list") as r:
        assert json.load(r)["tags"] == [third_party.SANDBOX_TAG]


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
