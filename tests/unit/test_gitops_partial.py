"""A partial independent release in a GitOps environment: each chart at its own version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from releasekit.core.errors import PublishError
from releasekit.deploy import gitops, gitops_env, gitops_layout
from releasekit.deploy.gitops_flux import Observed, ReleaseState
from releasekit.publish import oci
from tests.conftest import REPO

NEW, KEPT = "sha256:" + "1" * 64, "sha256:" + "2" * 64
RELEASE = "agent-runtime-1.0.1"
VERSIONS = {"agent-runtime": "1.0.1", "control-panel": "1.0.0"}
UNREACHABLE = "127.0.0.1:9"  # the discard port: a plan that got this far would fail to connect


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the manifest and charts, with the images.json of a partial release."""
    shutil.copy(REPO / "release.toml", tmp_path / "release.toml")
    shutil.copytree(REPO / "helm", tmp_path / "helm")
    for folder in ("packages", "docker", "terraform"):
        (tmp_path / folder).symlink_to(REPO / folder)
    images = {
        "agent-runtime": {"repository": "r:5000/ironcage/agent-runtime", "digest": NEW,
                          "tags": ["1.0.1"]},
        "control-panel-api": {"repository": "r:5000/ironcage/control-panel-api",
                              "digest": KEPT, "tags": ["1.0.0"]},
        "control-panel-web": {"repository": "r:5000/ironcage/control-panel-web",
                              "digest": KEPT, "tags": ["1.0.0"]},
    }  # fmt: skip
    (tmp_path / "dist" / RELEASE).mkdir(parents=True)
    (tmp_path / "dist" / RELEASE / "images.json").write_text(json.dumps(images))
    return tmp_path


def _plan(root: Path, versions: dict[str, str]) -> gitops.Desired:
    return gitops.plan(root, RELEASE, UNREACHABLE, None, oci.Access(plain_http=True), versions)


def test_a_partial_plan_without_images_json_is_refused_naming_it(root: Path) -> None:
    (root / "dist" / RELEASE / "images.json").unlink()
    with pytest.raises(PublishError, match=rf"dist/{RELEASE}/images.json is missing.*kept"):
        _plan(root, VERSIONS)


def test_a_chart_whose_package_was_never_released_is_named(root: Path) -> None:
    with pytest.raises(PublishError, match=r"Chart control-panel .* no released version"):
        _plan(root, {"agent-runtime": "1.0.1"})


def test_a_kept_image_missing_from_images_json_is_named(root: Path) -> None:
    listed = root / "dist" / RELEASE / "images.json"
    data = json.loads(listed.read_text())
    del data["control-panel-web"]
    listed.write_text(json.dumps(data))
    unpinned = r"no digest of control-panel-web \(chart control-panel\), so agent-runtime-1\.0\.1"
    with pytest.raises(PublishError, match=unpinned):
        _plan(root, VERSIONS)


def _desired() -> gitops_layout.Desired:
    pins = tuple(
        gitops_layout.ChartPin(
            name, f"oci://127.0.0.1:5555/charts/{name}", VERSIONS[name], digest,
            ("image.registry=127.0.0.1:5555", f"{key}.image.digest={digest}"),
        )
        for name, key, digest in (("agent-runtime", "worker", NEW), ("control-panel", "api", KEPT))
    )  # fmt: skip
    return gitops_layout.Desired(RELEASE, pins)


def test_each_chart_is_committed_at_its_own_version_and_reads_back() -> None:
    desired = _desired()
    assert (desired.versions(), desired.partial()) == (VERSIONS, True)
    files = gitops_layout.render(REPO, gitops_env.resolve(REPO, "dev"), desired, "KEY\n")
    assert gitops_layout.read(files[gitops_layout.DESIRED_FILE]) == desired
    for name, version in VERSIONS.items():
        source, release = yaml.safe_load_all(files[f"{name}.yaml"])
        assert source["spec"]["ref"]["tag"] == version
        assert release["metadata"]["annotations"][gitops_layout.VERSION_ANNOTATION] == version
    assert json.loads(files[gitops_layout.DESIRED_FILE])["version"] == RELEASE


def test_the_commit_names_the_release_and_each_charts_version() -> None:
    assert gitops._body(_desired()) == "\n\nagent-runtime 1.0.1\ncontrol-panel 1.0.0"
    lockstep = gitops_layout.Desired(
        "1.0.0", tuple(gitops_layout.ChartPin(n, "oci://h/c", "1.0.0", KEPT, ()) for n in VERSIONS)
    )  # fmt: skip
    assert (lockstep.partial(), gitops._body(lockstep)) == (False, "")


def test_flux_is_converged_when_each_chart_runs_its_own_version() -> None:
    def state(name: str, running: str, desired: str) -> ReleaseState:
        return ReleaseState(name, desired, running, True, True, "")

    converged = Observed("dev", "main@sha1:abc", True, "", (
        state("agent-runtime", "1.0.1", "1.0.1"), state("control-panel", "1.0.0", "1.0.0"),
    ))  # fmt: skip
    assert converged.problems("abc", VERSIONS) == []
    behind = Observed("dev", "main@sha1:abc", True, "", (
        state("agent-runtime", "1.0.0", "1.0.0"), state("control-panel", "1.0.0", "1.0.0"),
    ))  # fmt: skip
    assert behind.problems("abc", VERSIONS) == [
        "HelmRelease agent-runtime: Ready at 1.0.0 (desired 1.0.0)"
    ]
