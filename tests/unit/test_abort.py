"""`invoke release --abort`, a push the moved remote refuses, and the rule that an unpushed
local tag is never a release: on a real git repository with a bare remote."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from releasekit.core import manifest, version, workspace
from releasekit.core.errors import ConflictError, ReleaseError
from releasekit.publish import targets
from releasekit.release import plan
from releasekit.release.abort import abort
from releasekit.release.context import Context
from releasekit.release.steps.tag import Tag

from .conftest import git

PREVIOUS_RECORD = {"version": "1.4.2", "complete": True, "steps": {}, "options": {}}


def _load(root: Path) -> workspace.Workspace:
    return workspace.load(manifest.load(root))


def _released(root: Path) -> Path:
    """The demo repo released as 1.4.2 to its sandbox remote (.sandbox/remote.git)."""
    (root / ".gitignore").write_text("build/\ndist/\n.sandbox/\n")
    git(root, "add", ".gitignore")
    git(root, "commit", "-qm", "chore: ignore outputs")
    remote = root / ".sandbox" / "remote.git"
    git(root, "init", "-q", "--bare", str(remote))
    git(root, "tag", "-a", "v1.4.2", "-m", "Release 1.4.2")
    git(root, "push", "-q", str(remote), "HEAD:refs/heads/main", "v1.4.2")
    state = plan.state_path(root)
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps(PREVIOUS_RECORD))
    return remote


def _unpushed_release(root: Path, done: tuple[str, ...] = ()) -> str:
    """A release of 1.5.0 committed and tagged here, its state recording ``done`` steps too."""
    ws = _load(root)
    version.apply(ws, version.plan_bump(ws, to="1.5.0"))
    git(root, "commit", "-qam", "chore(release): v1.5.0")
    git(root, "tag", "-a", "v1.5.0", "-m", "Release 1.5.0")
    commit = git(root, "rev-parse", "HEAD").strip()
    (root / "dist" / "1.5.0").mkdir(parents=True)
    (root / "dist" / "1.5.0" / "demo_core-1.5.0.tar.gz").write_bytes(b"built")
    finished = {"status": "done", "outputs": {}}
    steps = {
        "version": {**finished, "outputs": {"version": "1.5.0", "current": "1.4.2"}},
        "prepare": {**finished, "outputs": {"commit": commit}},
        "build": finished,
        **{name: finished for name in done},
    }
    plan.state_path(root).write_text(
        json.dumps({
            "version": "1.5.0",
            "steps": steps,
            "options": {"target": "sandbox", "env": "pilot", "version": "1.5.0"},
            "previous": PREVIOUS_RECORD,
        })
    )  # fmt: skip
    return commit


def _snapshot(root: Path) -> tuple[str, str, str]:
    head = git(root, "rev-parse", "HEAD").strip()
    status = git(root, "status", "--porcelain", "--untracked-files=all")
    return head, git(root, "tag", "--list"), status


def test_abort_undoes_the_commit_the_tag_the_folder_and_the_state(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo()
    _released(root)
    before = _snapshot(root)
    _unpushed_release(root)
    lines: list[str] = []
    abort(_load(root), say=lines.append)
    assert _snapshot(root) == before
    assert not (root / "dist" / "1.5.0").exists()
    assert json.loads(plan.state_path(root).read_text()) == PREVIOUS_RECORD
    assert any("deleted the local tag v1.5.0" in line for line in lines)
    with pytest.raises(ReleaseError, match=r"Nothing to abort"):
        abort(_load(root), say=lines.append)


@pytest.mark.parametrize(
    ("pushed", "done", "message"),
    [
        ("tag", (), r"its tag v1\.5\.0 is on `.*remote\.git`.*never undone"),
        ("", ("tag", "publish-python"), r"records tag, publish-python as done"),
    ],
)
def test_abort_refuses_a_published_release(
    make_repo: Callable[..., Path], pushed: str, done: tuple[str, ...], message: str
) -> None:
    root = make_repo()
    remote = _released(root)
    _unpushed_release(root, done)
    if pushed:
        git(root, "push", "-q", "--atomic", str(remote), "HEAD:refs/heads/main", "v1.5.0")
    before, state = _snapshot(root), plan.state_path(root).read_text()
    with pytest.raises(ReleaseError, match=message):
        abort(_load(root), say=lambda _line: None)
    assert _snapshot(root) == before
    assert plan.state_path(root).read_text() == state
    assert (root / "dist" / "1.5.0").is_dir()


def test_an_unpushed_local_tag_is_not_a_release(make_repo: Callable[..., Path]) -> None:
    root = make_repo()
    remote = str(_released(root))
    _unpushed_release(root)
    git(root, "commit", "-q", "--allow-empty", "-m", "fix: after the unpushed attempt")
    assert plan.last_release(root, remote) == "v1.4.2"
    assert plan.last_release(root, None) == "v1.5.0"
    new, last, _ = plan.next_version(_load(root), plan.Options(), "1.5.0", remote)
    assert (new, last) == ("1.5.1", "v1.4.2")
    # The stale local tag at another commit blocks nothing: it was never published.
    plan.check_tag(root, "v1.5.0", remote)


def test_a_release_commit_refuses_a_to_or_part_that_disagrees(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo()
    ws = _load(root)
    version.apply(ws, version.plan_bump(ws, to="1.4.3"))
    git(root, "commit", "-qam", "chore(release): v1.4.3")
    pending = plan.pending_release(_load(root), "1.4.3")
    assert pending is not None
    before = plan.version_before(_load(root), pending.commit)
    assert before == "1.4.2"
    for opts, message in (
        (plan.Options(to="banana"), r"release commit of 1\.4\.3.*--to banana asks for version"),
        (plan.Options(part="minor"), r"--part minor from 1\.4\.2 asks for version 1\.5\.0"),
    ):
        with pytest.raises(ReleaseError, match=message):
            plan.check_pending(opts, pending, before)
    plan.check_pending(plan.Options(part="patch"), pending, before)
    plan.check_pending(plan.Options(to="1.4.3"), pending, before)


def _tag_context(root: Path, remote: Path, commit: str) -> Context:
    target = targets.Target(
        "sandbox", "sandbox", "http://127.0.0.1:1", "http://127.0.0.1:1/simple",
        "127.0.0.1:2/ironcage", "oci://127.0.0.1:2/charts", str(remote),
    )  # fmt: skip
    ctx = Context(ws=_load(root), opts=plan.Options(), target=target)
    ctx.version, ctx.commit = "1.5.0", commit
    return ctx


def test_a_push_the_moved_remote_refuses_names_both_ways_out(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_repo()
    remote = _released(root)
    commit = _unpushed_release(root)
    git(root, "tag", "-d", "v1.5.0")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "main", str(remote), str(other))
    git(other, "-c", "user.email=o@example.com", "-c", "user.name=o", "commit", "-q",
        "--allow-empty", "-m", "docs: meanwhile")  # fmt: skip
    git(other, "push", "-q", "origin", "HEAD:main")
    moved = git(other, "rev-parse", "HEAD").strip()
    with pytest.raises(ConflictError) as refused:
        Tag().run(_tag_context(root, remote, commit))
    message = str(refused.value)
    assert f"its branch `main` moved to {moved[:12]}" in message
    assert "Nothing was published" in message
    assert "(1) take the remote's commits into the release: run `invoke release --abort`" in message
    assert "(2) if those commits must not be on `main`" in message
    assert git(remote, "tag", "--list").split() == ["v1.4.2"]


def test_an_unpushed_local_tag_at_another_commit_is_moved_by_the_tag_step(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo()
    remote = _released(root)
    commit = _unpushed_release(root)
    git(root, "tag", "-d", "v1.5.0")
    git(root, "tag", "-a", "v1.5.0", "-m", "a stale attempt", f"{commit}^")
    Tag().run(_tag_context(root, remote, commit))
    assert git(remote, "rev-parse", "v1.5.0^{commit}").strip() == commit
    assert git(root, "rev-parse", "v1.5.0^{commit}").strip() == commit
