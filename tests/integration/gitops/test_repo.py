"""The GitOps repository over smart HTTP: pushes that race with other commits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from releasekit.core.errors import PublishError
from releasekit.deploy import git_http
from releasekit.deploy.gitops_repo import checkout

pytestmark = pytest.mark.integration


def _git(cwd: Path, *args: str) -> str:
    ident = ["-c", "user.name=someone", "-c", "user.email=someone@localhost"]
    return subprocess.run(["git", "-C", str(cwd), *ident, *args], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip


def _commit_elsewhere(url: str, where: Path, folder: str) -> str:
    """Someone else's commit to ``folder``, pushed to the repository."""
    if not where.exists():
        subprocess.run(["git", "clone", "-q", url, str(where)], check=True)
    _git(where, "pull", "-q")
    (where / folder).mkdir(parents=True, exist_ok=True)
    (where / folder / "note.txt").write_text(f"{folder} by someone\n")
    _git(where, "add", "-A")
    _git(where, "commit", "-qm", f"chore({folder}): by hand")
    _git(where, "push", "-q", "origin", "HEAD:main")
    return _git(where, "rev-parse", "HEAD").strip()


@pytest.fixture
def url(tmp_path: Path) -> str:
    service = git_http.up(tmp_path)
    try:
        yield git_http.url(service)
    finally:
        git_http.stop_server(tmp_path)


def test_a_commit_to_another_folder_is_rebased_over(tmp_path: Path, url: str) -> None:
    copy = checkout(tmp_path, url, "main")
    assert copy.write("clusters/dev", {"a.yaml": "a: 1\n"}, "deploy(dev): one")
    copy.push("clusters/dev")
    copy = checkout(tmp_path, url, "main")
    assert copy.write("clusters/dev", {"a.yaml": "a: 2\n"}, "deploy(dev): two")
    theirs = _commit_elsewhere(url, tmp_path / "other", "clusters/staging")
    pushed = copy.push("clusters/dev")
    log = _git(tmp_path / "other", "pull", "-q") or _git(
        tmp_path / "other", "log", "--format=%H %s"
    )
    assert log.splitlines()[:2] == [
        f"{pushed} deploy(dev): two",
        f"{theirs} chore(clusters/staging): by hand",
    ]


def test_a_commit_to_the_same_folder_is_refused_naming_it(tmp_path: Path, url: str) -> None:
    copy = checkout(tmp_path, url, "main")
    copy.write("clusters/dev", {"a.yaml": "a: 1\n"}, "deploy(dev): one")
    copy.push("clusters/dev")
    copy = checkout(tmp_path, url, "main")
    copy.write("clusters/dev", {"a.yaml": "a: 3\n"}, "deploy(dev): three")
    _commit_elsewhere(url, tmp_path / "other", "clusters/dev")
    with pytest.raises(
        PublishError,
        match=r"to clusters/dev meanwhile \(\w+ someone: chore\(clusters/dev\): by hand\)",
    ):
        copy.push("clusters/dev")
