from __future__ import annotations

from pathlib import Path

import pytest

from releasekit import manifest, release, workspace
from releasekit.errors import PreflightError, VersionError

from .conftest import git


def load(root: Path) -> workspace.Workspace:
    return workspace.load(manifest.load(root))


def _commit(root: Path, message: str) -> None:
    path = root / "packages/core/src/demo_core/__init__.py"
    path.write_text(path.read_text() + "\n# change\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


@pytest.mark.parametrize(
    ("messages", "opts", "expected"),
    [
        (["fix: a"], release.Options(), "1.4.3"),
        (["fix: a", "feat: b"], release.Options(), "1.5.0"),
        (["feat!: c"], release.Options(), "2.0.0"),
        (["docs: d"], release.Options(part="patch"), "1.4.3"),
        (["docs: d"], release.Options(to="3.0.0"), "3.0.0"),
    ],
)
def test_next_version(make_repo, messages: list[str], opts: release.Options, expected: str) -> None:
    root = make_repo()
    git(root, "tag", "-a", "v1.4.2", "-m", "v1.4.2")
    for message in messages:
        _commit(root, message)
    assert release.next_version(load(root), opts, "1.4.2")[0] == expected


def test_nothing_to_release(make_repo) -> None:
    root = make_repo()
    git(root, "tag", "-a", "v1.4.2", "-m", "v1.4.2")
    _commit(root, "docs: only words")
    with pytest.raises(VersionError, match=r"nothing calls for a release.*--part or --to"):
        release.next_version(load(root), release.Options(), "1.4.2")


def test_version_must_pass_the_last_release(make_repo) -> None:
    root = make_repo()
    git(root, "tag", "-a", "v1.6.0", "-m", "v1.6.0")
    with pytest.raises(
        VersionError, match=r"`1\.5\.0` is not higher than the last release `1\.6\.0`"
    ):
        release.next_version(load(root), release.Options(to="1.5.0"), "1.4.2")


def test_tag_at_another_commit_is_refused(make_repo) -> None:
    root = make_repo()
    git(root, "tag", "-a", "v1.5.0", "-m", "v1.5.0")
    _commit(root, "fix: later")
    with pytest.raises(PreflightError, match=r"Tag v1\.5\.0 already exists locally at commit"):
        release.check_tag(root, "v1.5.0", None)
    release.check_tag(root, "v1.6.0", None)


def test_tag_on_the_remote_at_another_commit_is_refused(make_repo, tmp_path: Path) -> None:
    root = make_repo()
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "tag", "-a", "v1.5.0", "-m", "v1.5.0")
    git(root, "push", "-q", str(remote), "v1.5.0")
    git(root, "tag", "-d", "v1.5.0")
    _commit(root, "fix: later")
    with pytest.raises(PreflightError, match=rf"Tag v1\.5\.0 already exists on {remote}"):
        release.check_tag(root, "v1.5.0", str(remote))


def test_unreachable_remote_stops_preflight(make_repo, tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match=r"git remote `.*nowhere\.git` does not answer"):
        release.check_tag(make_repo(), "v1.5.0", str(tmp_path / "nowhere.git"))
