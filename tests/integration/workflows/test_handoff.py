"""A release built and verified on one machine is published from another: the handoff.

The release job builds with no credential and stops after `verify`; `release.pack` adds the
release commit and the images to build/release/. The publishing job starts from a fresh
checkout of the branch, receives dist/ and build/release/, and `release.unpack` puts the
release commit on the branch and the images into its engine, so `--resume` finds both.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from releasekit.core import manifest, workspace
from releasekit.core.errors import ReleaseError
from releasekit.release import handoff
from releasekit.release.plan import RELEASE_DIR, state_path
from releasekit.release.state import State
from tests.conftest import git, require
from tests.unit.conftest import MANIFEST, _package

pytestmark = pytest.mark.integration


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("docker"), *args], capture_output=True, text=True, check=check)


@pytest.fixture
def version() -> Iterator[str]:
    """A version of this test alone, whose image tag is removed afterwards."""
    chosen = f"1.4.3-h{uuid.uuid4().hex[:10]}"
    yield chosen
    _docker("image", "rm", "--force", f"ironcage/app:{chosen}", check=False)


def _built(tmp_path: Path, version: str) -> tuple[Path, str]:
    """The demo repo with its release commit, state recorded up to `verify`, image built."""
    root = tmp_path / "built"
    root.mkdir()
    (root / "release.toml").write_text(MANIFEST.format(policy="lockstep"), encoding="utf-8")
    _package(root, "core", "demo-core", "demo_core", "1.4.2", [])
    _package(root, "app", "demo-app", "demo_app", "1.4.2", ["demo-core"])
    _package(root, "tool", "demo-tool", "demo_tool", "1.4.2", ["demo-core"])
    _package(root, "site", "demo-site", "demo_site", "1.4.2", [])
    (root / "docker").mkdir()
    (root / "docker" / "app.Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (root / ".gitignore").write_text("/build/\n/dist/\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "Test")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "chore: initial")
    (root / "CHANGELOG.md").write_text(f"## {version}\n", encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"chore(release): {version}")
    commit = git(root, "rev-parse", "HEAD").strip()
    state = State(state_path(root), version=version)
    for step in ("preflight", "version", "prepare", "build", "verify"):
        outputs = {"commit": commit} if step == "prepare" else {}
        state.record(step, outputs, time.monotonic())
    # A one-file image stands for what the build step made.
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "app.txt").write_text(version, encoding="utf-8")
    archive = tmp_path / "layer.tar"
    subprocess.run(["tar", "-C", str(layer), "-cf", str(archive), "."], check=True)
    _docker("import", str(archive), f"ironcage/app:{version}")
    return root, commit


def _elsewhere(tmp_path: Path, built: Path) -> Path:
    """A fresh clone at the commit before the release, holding the built dist/ and build/."""
    other = tmp_path / "publisher"
    git(tmp_path, "clone", "-q", str(built), str(other))
    git(other, "reset", "-q", "--hard", "HEAD~1")
    git(other, "config", "user.email", "test@example.com")
    git(other, "config", "user.name", "Test")
    shutil.copytree(built / RELEASE_DIR, other / RELEASE_DIR)
    return other


def _ws(root: Path) -> workspace.Workspace:
    return workspace.load(manifest.load(root))


def test_pack_and_unpack_carry_the_release_commit_and_the_images(
    tmp_path: Path, version: str
) -> None:
    built, commit = _built(tmp_path, version)
    written = handoff.pack(_ws(built))
    assert [p.relative_to(built) for p in written] == [handoff.BUNDLE, handoff.IMAGES]

    other = _elsewhere(tmp_path, built)
    _docker("image", "rm", f"ironcage/app:{version}")
    assert handoff.unpack(_ws(other)) == commit
    assert git(other, "rev-parse", "HEAD").strip() == commit
    assert git(other, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(other, "status", "--porcelain").strip() == ""
    loaded = _docker("image", "inspect", "--format", "{{.Id}}", f"ironcage/app:{version}")
    assert loaded.stdout.startswith("sha256:")


def test_unpack_refuses_a_bundle_of_another_release(tmp_path: Path, version: str) -> None:
    built, _ = _built(tmp_path, version)
    handoff.pack(_ws(built))
    other = _elsewhere(tmp_path, built)
    state = State.load(state_path(other))
    assert state is not None
    state.record("prepare", {"commit": "0" * 40}, time.monotonic())
    with pytest.raises(ReleaseError, match="different releases"):
        handoff.unpack(_ws(other))


def test_pack_refuses_a_release_not_yet_verified(tmp_path: Path, version: str) -> None:
    built, _ = _built(tmp_path, version)
    state = State.load(state_path(built))
    assert state is not None
    del state.steps["verify"]
    state.save()
    with pytest.raises(ReleaseError, match="has not finished verify"):
        handoff.pack(_ws(built))
