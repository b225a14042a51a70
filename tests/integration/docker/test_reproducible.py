"""Reproducible digests: the same commit from an empty BuildKit state gives the same images."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from releasekit.build import images
from releasekit.build.images import buildkit
from releasekit.core import manifest, workspace
from releasekit.deploy import testbed
from releasekit.publish import oci
from tests.integration.docker.conftest import IMAGES, Built

pytestmark = pytest.mark.integration


@pytest.fixture
def other_state(tmp_path: Path) -> Iterator[Path]:
    """An empty BuildKit state of this test's own (a second daemon), stopped afterwards."""
    before = os.environ.get(buildkit.STATE_ENV)
    state = tmp_path / "state"
    os.environ[buildkit.STATE_ENV] = str(state)
    try:
        yield state
    finally:
        buildkit.stop()
        if before is None:
            os.environ.pop(buildkit.STATE_ENV, None)
        else:
            os.environ[buildkit.STATE_ENV] = before


def _touched_copy(built: Built, dest: Path) -> workspace.Workspace:
    """The session's workspace (same commit) without its build outputs, every file touched."""
    shutil.copytree(built.ws.root, dest, ignore=shutil.ignore_patterns("dist", "build"))
    later = time.time() + 3600
    for path in dest.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            os.utime(path, (later, later))
    return workspace.load(manifest.load(dest))


def test_an_empty_state_and_touched_inputs_give_identical_digests(
    built: Built, client: Any, registry: testbed.Service, tmp_path: Path, other_state: Path
) -> None:
    ws = _touched_copy(built, tmp_path / "repo")
    source = images.Source(registry.host, "repro")
    again = images.build_images(ws, built.version, client=client, registry=source)
    first = {name: r.digest for name, r in built.results.items()}
    second = {r.name: r.digest for r in again}
    print(f"index digests, first build: {first}")
    print(f"index digests, second build from an empty state: {second}")
    assert (other_state / "root").is_dir()
    assert sorted(second) == sorted(IMAGES)
    assert second == first
    assert {r.name: r.platforms for r in again} == {
        n: r.platforms for n, r in built.results.items()
    }
    # Pushed by digest while building: the registry serves exactly that digest, untagged.
    for result in again:
        served = oci.fetch_manifest(
            registry.host, f"repro/{result.name}", result.digest, oci.Access(plain_http=True)
        )
        assert served is not None and served.digest == result.digest
