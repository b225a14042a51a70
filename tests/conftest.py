"""Shared fixtures: real local servers (registry, package index) and tool requirements.

A test that needs an external tool fails when the tool is missing: it never skips, so a
machine without the tool cannot pass by accident. `scripts/setup.sh` installs them all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from releasekit.deploy import testbed

REPO = Path(__file__).resolve().parents[1]


def git(root: Path, *args: str) -> str:
    """Run git in ``root``; its stdout."""
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout


def set_version(root: Path, value: str) -> None:
    """Write ``value`` to every version site of the workspace at ``root`` (a test's own copy).

    Tests pin their copies to a version of their own, so they pass whatever version the
    monorepo itself is at after any number of releases.
    """
    from releasekit.core import manifest, version, workspace

    ws = workspace.load(manifest.load(root))
    current = version.current(ws)
    version.apply(ws, [version.Bump(name, old, value) for name, old in current.items()])


def current_version(root: Path = REPO) -> str:
    """The one version the workspace at ``root`` holds (policy lockstep)."""
    from releasekit.core import manifest, version, workspace

    return next(iter(version.check(workspace.load(manifest.load(root))).values()))


def copy_repo(dest: Path) -> Path:
    """This repository's files (tracked and untracked, not ignored) copied under ``dest``."""
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for rel in filter(None, listed.split("\0")):
        source = REPO / rel
        if source.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    return dest


def require(tool: str) -> str:
    """The path of ``tool``; fails the test (never skips) when it is not installed."""
    beside = Path(sys.executable).parent / tool
    path = str(beside) if beside.is_file() else shutil.which(tool)
    if path is None:
        pytest.fail(f"`{tool}` is not installed; run `scripts/setup.sh` as root to install it.")
    return path


def narrow_platforms(root: Path, platforms: str = '["linux/amd64"]') -> None:
    """Build the images of the copy at ``root`` for ``platforms`` only (tests that build often)."""
    path = root / "release.toml"
    text = path.read_text()
    lines = [line for line in text.splitlines() if not line.startswith("platforms =")]
    at = lines.index("[release]") + 1
    lines.insert(at, f"platforms = {platforms}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session", autouse=True)
def buildkit_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | None]:
    """A BuildKit state of the session's own; the buildkitd a build starts is stopped at the end."""
    from releasekit.build.images import buildkit

    if os.environ.get(buildkit.HOST_ENV):
        yield None
        return
    state = tmp_path_factory.mktemp("buildkit")
    before = os.environ.get(buildkit.STATE_ENV)
    os.environ[buildkit.STATE_ENV] = str(state)
    try:
        yield state
    finally:
        buildkit.stop()
        if before is None:
            os.environ.pop(buildkit.STATE_ENV, None)
        else:
            os.environ[buildkit.STATE_ENV] = before


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testbed.Service]:
    """A real docker-registry on 127.0.0.1, stopped at the end of the session."""
    require("docker-registry")
    service = testbed.start_registry(tmp_path_factory.mktemp("registry"))
    yield service
    testbed.stop(service)


@pytest.fixture(scope="session")
def pypi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testbed.Service]:
    """A real pypiserver on 127.0.0.1 (user `ci`, password `pypi-test-password`)."""
    require("pypi-server")
    service = testbed.start_pypi(tmp_path_factory.mktemp("pypi"), "ci", "pypi-test-password")
    yield service
    testbed.stop(service)
