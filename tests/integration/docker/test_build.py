"""Building the images for real: tags, labels, user, SBOM, cache, and a broken Dockerfile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from releasekit.build import images
from releasekit.core import git, manifest, workspace
from releasekit.core.errors import ToolError
from tests.integration.docker.conftest import IMAGES, Built, commit_all

pytestmark = pytest.mark.integration

OCI = (
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.created",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
)


def test_every_image_is_built_with_its_tags(built: Built) -> None:
    short = git.short_sha(built.ws.root)
    major, minor, _ = built.version.split(".")
    assert sorted(built.results) == sorted(IMAGES)
    for name, result in built.results.items():
        assert result.tags == tuple(
            f"ironcage/{name}:{t}"
            for t in (built.version, f"{major}.{minor}", major, "latest", f"sha-{short}")
        )


@pytest.mark.parametrize("name", IMAGES)
def test_image_has_oci_labels_and_a_non_root_user(built: Built, client: Any, name: str) -> None:
    image = client.images.get(f"ironcage/{name}:{built.version}")
    labels = image.labels
    assert all(labels.get(key) for key in OCI), labels
    assert labels["org.opencontainers.image.version"] == built.version
    assert labels["org.opencontainers.image.revision"] == git.head(built.ws.root)
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert image.attrs["Config"]["User"] == "10001:10001"
    assert image.attrs["Config"]["Healthcheck"]["Test"][0] == "CMD"


def test_control_panel_api_keeps_its_database_on_a_volume(built: Built, client: Any) -> None:
    config = client.images.get(f"ironcage/control-panel-api:{built.version}").attrs["Config"]
    assert "/data" in config["Volumes"]
    assert "CONTROL_PANEL_DB=/data/control-panel.db" in config["Env"]
    assert not any(e.startswith("CONTROL_PANEL_TOKEN") for e in config["Env"])


@pytest.mark.parametrize("name", IMAGES)
def test_sbom_lists_what_the_image_holds(built: Built, name: str) -> None:
    path = built.ws.root / "dist" / built.version / "sbom" / f"{name}-{built.version}.cdx.json"
    bom = json.loads(path.read_text())
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["specVersion"] == "1.5"
    assert bom["metadata"]["component"]["version"] == built.version
    purls = {c["purl"] for c in bom["components"]}
    assert any(p.startswith("pkg:deb/debian/base-files@") for p in purls)
    pypi = {p for p in purls if p.startswith("pkg:pypi/")}
    expected = {
        "agent-runtime": {"ironcage-agent-runtime", "ironcage-sandbox"},
        "control-panel-api": {"ironcage-control-panel"},
    }.get(name, set())
    assert pypi == {f"pkg:pypi/{d}@{built.version}" for d in expected}


def test_second_build_builds_nothing(built: Built, client: Any) -> None:
    again = images.build_images(built.ws, built.version, client=client)
    assert {r.name: r.status for r in again} == dict.fromkeys(IMAGES, "up to date")
    assert {r.name: r.image_id for r in again} == {n: r.image_id for n, r in built.results.items()}


def test_broken_dockerfile_names_the_failing_step(
    built: Built, client: Any, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(built.ws.root, root, ignore=shutil.ignore_patterns("dist", "build"))
    dockerfile = root / "docker" / "marketing-site.Dockerfile"
    text = dockerfile.read_text()
    dockerfile.write_text(
        text.replace(
            "COPY docker/nginx/nginx.conf",
            "RUN echo broken-step && exit 3\nCOPY docker/nginx/nginx.conf",
            1,
        )
    )
    commit_all(root, "break the Dockerfile")
    ws = workspace.load(manifest.load(root))
    with pytest.raises(ToolError, match=r"The image marketing-site failed") as info:
        images.build_images(ws, built.version, images=["marketing-site"], client=client)
    assert "RUN echo broken-step && exit 3" in str(info.value)
    assert "exit code: 3" in str(info.value)
    assert Path(info.value.argv[0]).name == "buildctl"
    assert "dockerfile.v0" in info.value.argv
    log = root / "build" / "images" / "marketing-site.log"
    assert "RUN echo broken-step && exit 3" in log.read_text()
