"""The deploy of a partial (independent) release, planned and rendered with the real helm.

Every chart is deployed, each at its own version from the chart registry, and every image
of every chart is pinned by the release's images.json: the released ones at their new
digests, the kept ones at their last release's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from releasekit.core.artifact import ImagePin, write_images
from releasekit.core.errors import PublishError
from releasekit.deploy import helm_partial, kube_env
from releasekit.publish import charts
from tests.conftest import REPO

pytestmark = pytest.mark.integration

RELEASE = "agent-runtime-0.4.1"
REGISTRY = "127.0.0.1:5999/ironcage"
DIGESTS = {
    "agent-runtime": "sha256:" + "a" * 64,  # released by RELEASE
    "control-panel-api": "sha256:" + "b" * 64,  # kept at its last release
    "control-panel-web": "sha256:" + "c" * 64,  # kept at its last release
    "marketing-site": "sha256:" + "d" * 64,  # kept, in no chart
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The charts and release.toml of this repository, with a partial release's images.json."""
    shutil.copytree(REPO / "helm", tmp_path / "helm")
    shutil.copy(REPO / "release.toml", tmp_path / "release.toml")
    for project in REPO.glob("packages/*/pyproject.toml"):
        target = tmp_path / project.relative_to(REPO)
        target.parent.mkdir(parents=True)
        shutil.copy(project, target)
    write_images(
        tmp_path / "dist" / RELEASE / "images.json",
        {name: ImagePin(f"{REGISTRY}/{name}", (), digest) for name, digest in DIGESTS.items()},
    )
    return tmp_path


def test_every_chart_deploys_at_its_version_with_every_image_pinned(root: Path) -> None:
    env = kube_env.resolve(root, "cluster")
    versions = {"agent-runtime": "0.4.1", "control-panel": "0.3.0"}
    upgrades = helm_partial.plan_charts(
        root, env, RELEASE, versions, "oci://127.0.0.1:5999/charts", REGISTRY
    )
    assert [(u.release, u.version) for u in upgrades] == sorted(versions.items())
    for up in upgrades:
        argv = list(up.argv)
        assert argv[4] == f"oci://127.0.0.1:5999/charts/{up.release}"
        assert argv[argv.index("--version") + 1] == versions[up.release]
        assert "--plain-http" in argv

    running = set()
    for up in upgrades:
        chart = charts.find_charts(root, up.release)[0]
        rendered = charts.render(root, env.values, chart, list(up.sets))
        for doc in rendered.manifests:
            spec = doc.get("spec", {}).get("template", {}).get("spec", {})
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                running.add(container["image"])
    ours = {ref for ref in running if ref.partition("@")[0].rsplit("/", 1)[-1] in DIGESTS}
    assert ours == {
        f"{REGISTRY}/{name}@{digest}"
        for name, digest in DIGESTS.items()
        if name != "marketing-site"
    }
    assert any("/redis@sha256:" in ref for ref in running)  # the third-party image, pinned


def test_a_chart_whose_package_never_released_is_refused(root: Path) -> None:
    env = kube_env.resolve(root, "cluster")
    with pytest.raises(PublishError, match=r"control-panel .* has no released version"):
        helm_partial.plan_charts(
            root, env, RELEASE, {"agent-runtime": "0.4.1"}, "oci://127.0.0.1:5999/charts"
        )
