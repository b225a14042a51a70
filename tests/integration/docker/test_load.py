"""An image loaded into Docker Engine from its build's OCI layout, without BuildKit.

The session's build wrote each image's layout; ``layout.docker_archive`` turns one platform
of it into an archive that the real ``docker load`` reads, and the engine gives the loaded
image the recorded config digest as its id. Where the layout does not hold the image
(another config), nothing is written, and ``load_platform`` falls back to BuildKit.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from releasekit.build import images
from releasekit.build.images import buildkit, layout, records
from releasekit.core import manifest, workspace
from releasekit.core.run import run
from tests.integration.docker.conftest import Built

pytestmark = pytest.mark.integration


def test_a_platform_of_the_layout_loads_as_the_recorded_config(
    built: Built, client: Any, tmp_path: Path
) -> None:
    name = "control-panel-api"
    record = records.read_record(built.ws.root, name, built.version)
    assert record is not None
    config = record.config(buildkit.host_platform())
    oci = built.ws.root / "build/images" / name / "oci"
    tag = f"releasekit-test/load:{tmp_path.name}"
    archive = tmp_path / "image.tar"
    try:
        assert layout.docker_archive(oci, config, tag, archive)
        run(["docker", "load", "-i", str(archive)], quiet=True)
        assert client.images.get(tag).id == config
        missing = "sha256:" + "0" * 64
        assert not layout.docker_archive(oci, missing, tag, tmp_path / "none.tar")
        assert not (tmp_path / "none.tar").exists()
    finally:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(tag)


def test_without_the_layout_the_image_loads_through_buildkit(
    built: Built, client: Any, tmp_path: Path
) -> None:
    """A release finished on another machine has the build's record but not its layout."""
    root = tmp_path / "repo"
    shutil.copytree(
        built.ws.root, root, ignore=shutil.ignore_patterns("oci", "context", "buildkit")
    )
    name = "marketing-site"
    (root / f"build/images/{name}.log").unlink(missing_ok=True)
    ws = workspace.load(manifest.load(root))
    record = records.read_record(root, name, built.version)
    assert record is not None and not (root / "build/images" / name / "oci").exists()
    spec = next(s for s in images.specs(ws) if s.name == name)
    planned = images.plan(ws, built.version, [spec], client)
    host = buildkit.host_platform()
    ref = f"{spec.repository}:{built.version}"
    with contextlib.suppress(docker.errors.APIError):
        client.images.remove(ref)
    assert images.load_platform(ws, planned, spec, record, host, client) == ref
    assert client.images.get(ref).id == record.config(host)
    assert "exporting to docker image format" in (root / f"build/images/{name}.log").read_text()
