"""`invoke deps.upgrade` and `deps.check` on a copy of the workspace, with the real uv and index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from releasekit.core import uvlock
from tests.conftest import copy_repo, git, require

pytestmark = pytest.mark.integration

INVOKE = str(Path(sys.executable).parent / "invoke")


def _invoke(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INVOKE, *args], cwd=root, capture_output=True, text=True, check=False)


def test_upgrade_shows_each_changed_version_and_commits_nothing(tmp_path: Path) -> None:
    uv = require("uv")
    root = copy_repo(tmp_path / "repo")
    subprocess.run(
        [uv, "lock", "-q", "--upgrade-package", "idna==3.6"], cwd=root, check=True, timeout=300
    )
    assert uvlock.locked(root)["idna"] == "3.6"
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    head = git(root, "rev-parse", "HEAD")

    proc = _invoke(root, "deps.upgrade", "--package", "idna", "--json")
    assert proc.returncode == 0, proc.stderr
    [change] = json.loads(proc.stdout)
    assert (change["name"], change["old"]) == ("idna", "3.6")
    assert Version(change["new"]) > Version("3.6")
    assert uvlock.locked(root)["idna"] == change["new"]
    assert git(root, "rev-parse", "HEAD") == head
    assert git(root, "status", "--porcelain").split() == ["M", "uv.lock"]

    again = _invoke(root, "deps.upgrade", "--package", "idna")
    assert again.returncode == 0, again.stderr
    assert "already at the newest versions allowed" in again.stdout


def test_check_fails_on_a_stale_lock_with_exit_2(tmp_path: Path) -> None:
    root = copy_repo(tmp_path / "repo")
    assert _invoke(root, "deps.check").returncode == 0
    pyproject = root / "packages/sandbox/pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("dependencies = []", 'dependencies = ["idna>=3"]')
    )
    proc = _invoke(root, "deps.check")
    assert proc.returncode == 2
    assert "uv.lock is stale" in proc.stderr
    assert "Run `uv lock`" in proc.stderr
