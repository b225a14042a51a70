"""The prepare and tag steps of an independent release, and finding a package's release,
over real commits in a throwaway repository with a bare remote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from releasekit.core.errors import PreflightError, ReleaseError
from releasekit.publish.record import Record
from releasekit.publish.targets import Target
from releasekit.release import independent, plan
from releasekit.release.abort import abort
from releasekit.release.context import Context
from releasekit.release.kept import app_versions, recorded_chart_versions
from releasekit.release.pending import pending_release
from releasekit.release.plan import Options
from releasekit.release.steps.prepare import Prepare
from releasekit.release.steps.tag import Tag
from releasekit.release.verify import package_release, release_tags, tag_folder, tag_release
from tests.unit.conftest import git
from tests.unit.test_independent import commit, load


@pytest.fixture
def repo(make_repo, tmp_path: Path) -> tuple[Path, Path]:
    """The demo monorepo switched to independent after v1.4.2, with a bare remote."""
    root = make_repo(policy="independent")
    (root / ".gitignore").write_text("build/\ndist/\n")
    git(root, "add", ".gitignore")
    git(root, "commit", "-qm", "chore: ignore build")
    git(root, "tag", "-a", "v1.4.2", "-m", "v1.4.2")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "push", "-q", str(remote), "main", "v1.4.2")
    return root, remote


def _context(root: Path, remote: Path) -> Context:
    ws = load(root)
    planned = independent.plan(ws, str(remote))
    ctx = Context(ws=ws, opts=Options())
    ctx.target = Target("sandbox", "sandbox", "", "", "", "", str(remote))
    ctx.version, ctx.plan = planned.release_id, [r.to_json() for r in planned.releases]
    ctx.notes = independent.root_notes(ws, planned)
    return ctx


def test_prepare_and_tag_release_each_package_under_its_own_tag(repo) -> None:
    root, remote = repo
    commit(root, "feat(core): limits", "packages/core/src/demo_core/limits.py")
    ctx = _context(root, remote)
    assert ctx.version == "core-1.5.0+app-1.4.3+tool-1.4.3"

    Prepare().run(ctx)
    subject = git(root, "log", "-1", "--format=%s").strip()
    assert subject == "chore(release): core-v1.5.0, app-v1.4.3, tool-v1.4.3"
    core_log = (root / "packages/core/CHANGELOG.md").read_text()
    assert "## 1.5.0" in core_log and "limits" in core_log
    app_log = (root / "packages/app/CHANGELOG.md").read_text()
    assert "## 1.4.3" in app_log and "dependent of core" in app_log
    assert not (root / "packages/site/CHANGELOG.md").exists()
    app = (root / "packages/app/pyproject.toml").read_text()
    assert 'version = "1.4.3"' in app and '"demo-core==1.5.0"' in app  # its pin follows
    assert Prepare().run(ctx).startswith("already committed")  # resumed: same commit

    summary = Tag().run(ctx)
    assert summary == f"core-v1.5.0, app-v1.4.3, tool-v1.4.3 -> {remote}"
    tags = git(remote, "tag", "--list").split()
    assert sorted(tags) == ["app-v1.4.3", "core-v1.5.0", "tool-v1.4.3", "v1.4.2"]
    head = git(root, "rev-parse", "HEAD").strip()
    assert git(remote, "rev-parse", "main").strip() == head
    for tag in ("core-v1.5.0", "app-v1.4.3", "tool-v1.4.3"):
        assert git(remote, "cat-file", "-t", tag).strip() == "tag"
        assert git(remote, "rev-parse", f"{tag}^{{commit}}").strip() == head
    assert Tag().run(ctx).endswith(f"already on {remote}")  # a re-run pushes nothing


def test_a_rerun_at_the_release_commit_finishes_that_release(repo) -> None:
    root, remote = repo
    commit(root, "feat(core): limits", "packages/core/src/demo_core/limits.py")
    ctx = _context(root, remote)
    Prepare().run(ctx)
    found = pending_release(load(root), str(remote))
    assert found is not None
    assert (found.version, found.commit) == (ctx.version, git(root, "rev-parse", "HEAD").strip())
    assert [(e["package"], e["new"], e["tag"]) for e in found.plan] == [
        ("core", "1.5.0", "core-v1.5.0"),
        ("app", "1.4.3", "app-v1.4.3"),
        ("tool", "1.4.3", "tool-v1.4.3"),
    ]
    assert found.notes.startswith(f"## {ctx.version} (") and "limits" in found.notes
    assert release_tags(load(root)) == ["core-v1.5.0", "app-v1.4.3", "tool-v1.4.3"]
    commit(root, "fix(site): a typo", "packages/site/page.txt")
    assert pending_release(load(root), str(remote)) is None
    with pytest.raises(PreflightError, match="not the release commit of an independent release"):
        release_tags(load(root))


def test_a_tag_left_unpushed_is_moved_to_the_release_commit(repo) -> None:
    root, remote = repo
    commit(root, "fix(site): a typo", "packages/site/page.txt")
    git(root, "tag", "-a", "site-v1.4.3", "-m", "left by a release that never pushed")
    ctx = _context(root, remote)
    Prepare().run(ctx)
    Tag().run(ctx)
    head = git(root, "rev-parse", "HEAD").strip()
    assert git(remote, "rev-parse", "site-v1.4.3^{commit}").strip() == head


def _record(root: Path, release_id: str, packages: dict[str, str]) -> Path:
    folder = root / "dist" / release_id
    folder.mkdir(parents=True)
    entries = {p: {"version": v, "tag": f"{p}-v{v}"} for p, v in packages.items()}
    (folder / "release.json").write_text(json.dumps({"version": release_id, "packages": entries}))
    return folder


def test_a_package_release_is_found_by_its_records(make_repo, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    root = make_repo(policy="independent")
    ws = load(root)
    first = _record(root, "core-1.5.0+app-1.4.3", {"core": "1.5.0", "app": "1.4.3"})
    second = _record(root, "site-1.4.3", {"site": "1.4.3"})
    assert package_release(ws, "app", "1.4.3") == first
    assert package_release(ws, "site", "1.4.3") == second
    assert tag_folder(ws, "core-v1.5.0") == first
    assert tag_folder(ws, "v1.4.2") == root / "dist/1.4.2"
    with pytest.raises(PreflightError, match=r"No release of tool 1\.4\.3 is recorded"):
        package_release(ws, "tool", "1.4.3")


@pytest.mark.parametrize(
    ("packages", "tags", "expected"),
    [
        ({}, ["1.4.2", "1.4", "1", "latest"], "1.4.2"),
        ({}, ["1.3.0", "1.3", "1"], "1.4.2"),  # lockstep: always the release's own tag
        ({"site": {"version": "0.2.1"}}, ["0.2.1", "0.2", "0", "latest"], "0.2.1"),
    ],
)
def test_an_image_names_its_own_version(packages, tags, expected: str) -> None:
    entry = {"repository": "127.0.0.1:5000/ironcage/site", "digest": "sha256:0", "tags": tags}
    data = {"version": "1.4.2", "images": {"site": entry}, "packages": packages}
    image = Record.from_data(data, {}).images[0]
    assert image.version_of("1.4.2") == expected


def test_a_chart_runs_its_package_version_released_or_last_released(repo) -> None:
    root, remote = repo
    ws = load(root)
    assert app_versions(ws, str(remote), {"site": "1.4.3"}) == {"app": "1.4.2"}  # lockstep tag
    assert app_versions(ws, str(remote), {"app": "1.5.0"}) == {"app": "1.5.0"}
    git(root, "tag", "-a", "app-v1.4.3", "-m", "app-v1.4.3")
    assert app_versions(ws, str(remote), {}) == {"app": "1.4.2"}  # not on the remote: unpublished
    git(root, "push", "-q", str(remote), "app-v1.4.3")
    assert app_versions(ws, str(remote), {"site": "1.4.3"}) == {"app": "1.4.3"}


def _prepared(root: Path, remote: Path) -> tuple[str, Context]:
    """(the commit before it, its context) of a release of core prepared and tagged here."""
    commit(root, "feat(core): limits", "packages/core/src/demo_core/limits.py")
    before = git(root, "rev-parse", "HEAD").strip()
    ctx = _context(root, remote)
    Prepare().run(ctx)
    for entry in ctx.plan:
        git(root, "tag", "-a", str(entry["tag"]), "-m", str(entry["tag"]))
    return before, ctx


def test_abort_undoes_an_independent_release_commit_and_every_package_tag(repo) -> None:
    root, remote = repo
    before, ctx = _prepared(root, remote)
    (root / "dist" / ctx.version).mkdir(parents=True)
    release_commit = git(root, "rev-parse", "HEAD").strip()
    finished = {"status": "done", "outputs": {}}
    plan.state_path(root).parent.mkdir(parents=True, exist_ok=True)
    plan.state_path(root).write_text(
        json.dumps({
            "version": ctx.version,
            "steps": {
                "version": {**finished, "outputs": {"version": ctx.version, "plan": ctx.plan}},
                "prepare": {**finished, "outputs": {"commit": release_commit}},
            },
            "options": {"target": "sandbox", "env": "none", "version": ctx.version},
        })
    )  # fmt: skip

    done = abort(load(root), say=lambda _: None)

    assert git(root, "rev-parse", "HEAD").strip() == before
    assert git(root, "tag", "--list").split() == ["v1.4.2"]
    assert not (root / "dist" / ctx.version).exists()
    assert not plan.state_path(root).exists()
    assert "deleted the local tag core-v1.5.0" in done


def test_abort_without_state_finds_the_independent_release_at_head(repo) -> None:
    root, remote = repo
    before, _ = _prepared(root, remote)

    abort(load(root), say=lambda _: None)

    assert git(root, "rev-parse", "HEAD").strip() == before
    assert git(root, "tag", "--list").split() == ["v1.4.2"]


def test_abort_refuses_an_independent_release_whose_tag_is_pushed(repo) -> None:
    root, _ = repo
    sandbox = root / ".sandbox" / "remote.git"  # the sandbox target's remote
    (root / ".git" / "info" / "exclude").write_text(".sandbox/\n")
    git(root, "init", "-q", "--bare", str(sandbox))
    git(root, "push", "-q", str(sandbox), "main", "v1.4.2")
    commit(root, "feat(core): limits", "packages/core/src/demo_core/limits.py")
    ctx = _context(root, sandbox)
    Prepare().run(ctx)
    Tag().run(ctx)
    with pytest.raises(ReleaseError, match=r"core-v1\.5\.0 is on"):
        abort(load(root), say=lambda _: None)


def test_a_package_tag_names_the_release_of_its_commit(repo) -> None:
    root, remote = repo
    _, ctx = _prepared(root, remote)
    ws = load(root)
    assert tag_release(ws, "app-v1.4.3") == ctx.version == "core-1.5.0+app-1.4.3+tool-1.4.3"
    assert tag_release(ws, "v1.4.2") == "1.4.2"
    with pytest.raises(PreflightError, match="not in the repository"):
        tag_release(ws, "core-v9.9.9")


def test_a_recorded_release_names_each_chart_version_for_a_later_deploy(repo) -> None:
    root, remote = repo
    commit(root, "feat(core): limits", "packages/core/src/demo_core/limits.py")
    ctx = _context(root, remote)
    Prepare().run(ctx)
    ws = load(root)
    with pytest.raises(PreflightError, match=r"release\.json is missing"):
        recorded_chart_versions(ws, ctx.version, str(remote))
    record = root / "dist" / ctx.version / "release.json"
    record.parent.mkdir(parents=True)
    packages = {e["package"]: {"version": e["new"], "tag": e["tag"]} for e in ctx.plan}
    record.write_text(json.dumps({"version": ctx.version, "packages": packages}))
    assert recorded_chart_versions(ws, ctx.version, str(remote)) == {"app": "1.4.3"}


def test_abort_leaves_a_stray_tag_that_is_not_the_release_commits(repo) -> None:
    root, remote = repo
    commit(root, "feat(core): limits", "packages/core/src/demo_core/limits.py")
    before = git(root, "rev-parse", "HEAD").strip()
    git(root, "tag", "-a", "core-v1.5.0", "-m", "left by a failed release")
    ctx = _context(root, remote)
    Prepare().run(ctx)
    git(root, "tag", "-a", "app-v1.4.3", "-m", "app-v1.4.3")

    done = abort(load(root), say=lambda _: None)

    assert git(root, "rev-parse", "HEAD").strip() == before
    assert sorted(git(root, "tag", "--list").split()) == ["core-v1.5.0", "v1.4.2"]
    assert any(line.startswith("left the local tag core-v1.5.0") for line in done)
