"""A throwaway copy of the monorepo's Python packages in its own git repository.

Tests that build, change files or fill ``dist/`` work on this copy, never on the real tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from releasekit.core import manifest, workspace
from tests.conftest import REPO, current_version

MANIFEST = """\
[release]
policy = "lockstep"
branch = "main"

[[packages]]
name = "sandbox"
path = "packages/sandbox"
dist = "ironcage-sandbox"
module = "ironcage_sandbox"
artifacts = ["sdist", "wheel"]

[[packages]]
name = "agent-runtime"
path = "packages/agent-runtime"
dist = "ironcage-agent-runtime"
module = "ironcage_agent_runtime"
artifacts = ["sdist", "wheel"]

[[packages]]
name = "cli"
path = "packages/cli"
dist = "ironcage-cli"
module = "ironcage_cli"
artifacts = ["sdist", "wheel", "binary"]

[[packages]]
name = "marketing-site"
path = "packages/marketing-site"
dist = "ironcage-marketing-site"
module = "ironcage_marketing_site"
artifacts = ["site"]
"""

_PACKAGES = ("sandbox", "agent-runtime", "cli", "marketing-site")
_IGNORED = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.egg-info", "build", "dist"
)


# The version the throwaway workspaces hold: the monorepo's own, read from its workspace.
VERSION = current_version(REPO)

# Every commit of a throwaway workspace has this time, so builds of two copies compare equal.
COMMIT_DATE = "2024-06-01T12:00:00+00:00"
COMMIT_EPOCH = "1717243200"


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE}
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def make_workspace(root: Path) -> Path:
    """Copy the packages, release.toml (trimmed), tasks.py and .gitignore; commit on main."""
    root.mkdir(parents=True)
    for name in _PACKAGES:
        shutil.copytree(REPO / "packages" / name, root / "packages" / name, ignore=_IGNORED)
    (root / "release.toml").write_text(MANIFEST, encoding="utf-8")
    shutil.copy2(REPO / ".gitignore", root / ".gitignore")
    shutil.copy2(REPO / "tasks.py", root / "tasks.py")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "Test")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "chore: initial")
    return root


def load(root: Path) -> workspace.Workspace:
    return workspace.load(manifest.load(root))


@pytest.fixture
def make_ws(tmp_path: Path) -> Callable[[], Path]:
    """A fresh throwaway workspace per call (for tests that change files)."""
    count = 0

    def make() -> Path:
        nonlocal count
        count += 1
        return make_workspace(tmp_path / f"ws{count}")

    return make


@pytest.fixture(scope="module")
def built_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace per test module (build outputs are shared by its tests)."""
    return make_workspace(tmp_path_factory.mktemp("ws") / "repo")
