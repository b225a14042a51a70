"""The plan of an independent release, over real commits in a throwaway repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.core import manifest, version, workspace
from releasekit.core.errors import VersionError
from releasekit.release import independent
from tests.unit.conftest import git


def load(root: Path) -> workspace.Workspace:
    return workspace.load(manifest.load(root))


def commit(root: Path, subject: str, *files: str) -> str:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(path.read_text() + "#\n" if path.exists() else "x\n", encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-qm", subject)
    return git(root, "rev-parse", "HEAD").strip()


def release(root: Path, planned: independent.ReleasePlan) -> None:
    """Make the plan's release commit and its tags (what the prepare and tag steps do)."""
    ws = load(root)
    version.apply(ws, planned.bumps())
    commit(root, f"chore(release): {planned.release_id}")
    for tag in planned.tags:
        git(root, "tag", "-a", tag, "-m", tag)


def outcome(planned: independent.ReleasePlan) -> dict[str, str]:
    return {r.package: r.new for r in planned.releases}


@pytest.fixture
def repo(make_repo) -> Path:
    """The demo monorepo switched to independent after a lockstep release v1.4.2."""
    root = make_repo(policy="independent")
    git(root, "tag", "-a", "v1.4.2", "-m", "v1.4.2")
    return root


@pytest.mark.parametrize(
    ("commits", "expected"),
    [
        ([("fix(site): a typo", ["packages/site/page.txt"])], {"site": "1.4.3"}),
        (
            [("feat(core): limits", ["packages/core/src/demo_core/limits.py"])],
            {"core": "1.5.0", "app": "1.4.3", "tool": "1.4.3"},
        ),
        (
            [("chore: relock", ["requirements.lock"]), ("ci: cache", [".github/workflows/ci.yml"])],
            {},
        ),
        ([("feat: toolkit", ["releasekit/new.py"])], {}),
        ([("fix: base image", ["docker/app.Dockerfile"])], {"app": "1.4.3"}),
        ([("feat(tool)!: new flags", ["packages/tool/cli.py"])], {"tool": "2.0.0"}),
        ([("fix(site): scope decides", ["packages/core/x.py"])], {"site": "1.4.3"}),
        ([("docs(core): readme", ["packages/core/README.md"])], {}),
        (
            [("fix: both", ["packages/site/a.txt", "packages/tool/b.py"])],
            {"tool": "1.4.3", "site": "1.4.3"},
        ),
        (
            [("fix(app): one", ["packages/app/a.py"]), ("feat(app): two", ["packages/app/b.py"])],
            {"app": "1.5.0"},
        ),
    ],
)
def test_plan_from_commits_since_the_lockstep_tag(repo, commits, expected) -> None:
    for subject, files in commits:
        commit(repo, subject, *files)
    assert outcome(independent.plan(load(repo), None)) == expected


def test_reasons_name_the_commits_and_the_dependency(repo) -> None:
    sha = commit(repo, "feat(core): limits", "packages/core/x.py")
    planned = independent.plan(load(repo), None)
    reasons = {r.package: r.reasons for r in planned.releases}
    assert reasons["core"] == (f"feat(core): limits ({sha[:7]})",)
    assert reasons["app"] == ("dependent of core",)
    assert [r.tag for r in planned.releases] == ["core-v1.5.0", "app-v1.4.3", "tool-v1.4.3"]
    assert planned.kept == {"site": "1.4.2"}
    assert planned.release_id == "core-1.5.0+app-1.4.3+tool-1.4.3"
    assert "site 1.4.2 unchanged (nothing to release)" in planned.lines()


def test_each_package_counts_from_its_own_tag(repo) -> None:
    commit(repo, "feat(core): limits", "packages/core/x.py")
    release(repo, independent.plan(load(repo), None))
    ws = load(repo)
    assert version.check(ws) == {"core": "1.5.0", "app": "1.4.3", "tool": "1.4.3", "site": "1.4.2"}
    assert '"demo-core==1.5.0"' in (repo / "packages/app/pyproject.toml").read_text()
    commit(repo, "fix(site): typo", "packages/site/a.txt")
    commit(repo, "fix(tool): flag", "packages/tool/a.py")
    planned = independent.plan(load(repo), None)
    assert outcome(planned) == {"tool": "1.4.4", "site": "1.4.3"}
    since = {r.package: r.since for r in planned.releases}
    assert since == {"tool": "tool-v1.4.3", "site": "v1.4.2"}


def test_nothing_changed_since_the_release_plans_nothing(repo) -> None:
    commit(repo, "fix(site): typo", "packages/site/a.txt")
    release(repo, independent.plan(load(repo), None))
    assert independent.plan(load(repo), None).releases == ()


def test_a_tag_the_remote_lacks_never_blocks(repo, tmp_path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "push", "-q", str(remote), "main", "v1.4.2")
    commit(repo, "fix(site): typo", "packages/site/a.txt")
    git(repo, "tag", "-a", "site-v1.4.3", "-m", "never pushed")
    planned = independent.plan(load(repo), str(remote))
    assert [(r.tag, r.since) for r in planned.releases] == [("site-v1.4.3", "v1.4.2")]


def test_group_moves_together_at_one_version(make_repo) -> None:
    root = make_repo(policy="independent")
    path = root / "release.toml"
    text = path.read_text().replace(
        'branch = "main"\n',
        'branch = "main"\n\n[[release.groups]]\nname = "apps"\npackages = ["app", "site"]\n',
    )
    path.write_text(text)
    commit(root, "chore: group")
    git(root, "tag", "-a", "v1.4.2", "-m", "v1.4.2")
    commit(root, "feat(site): pages", "packages/site/a.txt")
    planned = independent.plan(load(root), None)
    assert outcome(planned) == {"app": "1.5.0", "site": "1.5.0"}
    assert {r.package: r.reasons for r in planned.releases}["app"] == ("group apps with site",)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"packages": ["site"]}, {"site": "1.4.3"}),
        ({"packages": ["core"]}, {"core": "1.5.0", "app": "1.4.3", "tool": "1.4.3"}),
        ({"packages": ["tool"]}, {}),
        ({"packages": ["tool"], "part": "minor"}, {"tool": "1.5.0"}),
        ({"packages": ["site"], "to": "2.0.0"}, {"site": "2.0.0"}),
        ({"part": "major"}, {"core": "2.0.0", "app": "2.0.0", "tool": "2.0.0", "site": "2.0.0"}),
    ],
)
def test_package_flag_restricts_and_dependents_follow(repo, kwargs, expected) -> None:
    commit(repo, "feat(core): limits", "packages/core/x.py")
    commit(repo, "fix(site): typo", "packages/site/a.txt")
    assert outcome(independent.plan(load(repo), None, **kwargs)) == expected


def test_to_needs_one_package(repo) -> None:
    with pytest.raises(VersionError, match=r"--to 2\.0\.0 sets one package's version"):
        independent.plan(load(repo), None, to="2.0.0")


def test_version_not_above_the_package_tag_is_refused(repo) -> None:
    commit(repo, "fix(site): typo", "packages/site/a.txt")
    git(repo, "tag", "-a", "site-v1.9.0", "-m", "site 1.9.0")
    commit(repo, "fix(site): again", "packages/site/a.txt")
    with pytest.raises(VersionError, match=r"`1\.4\.3` of site is not higher .* `1\.9\.0`"):
        independent.plan(load(repo), None)


def test_switching_back_to_lockstep_is_refused_with_the_aligning_command(repo) -> None:
    commit(repo, "feat(core): limits", "packages/core/x.py")
    release(repo, independent.plan(load(repo), None))
    path = repo / "release.toml"
    path.write_text(path.read_text().replace('"independent"', '"lockstep"'))
    with pytest.raises(VersionError, match=r"core-v1\.5\.0.*invoke version\.bump --to 1\.5\.1"):
        independent.check_lockstep_history(load(repo), None)
    ws = load(repo)
    version.apply(ws, version.plan_bump(ws, to="1.5.1"))
    assert set(version.check(load(repo)).values()) == {"1.5.1"}


def test_lockstep_history_passes(make_repo) -> None:
    root = make_repo()
    git(root, "tag", "-a", "v1.4.2", "-m", "v1.4.2")
    independent.check_lockstep_history(load(root), None)


@pytest.mark.parametrize(
    ("pattern", "package", "version_", "tag", "glob"),
    [
        ("{package}-v{version}", "sandbox", "1.3.0", "sandbox-v1.3.0", "sandbox-v[0-9]*"),
        ("{package}/{version}", "cli", "2.0.0-rc.1", "cli/2.0.0-rc.1", "cli/[0-9]*"),
        ("{package}@{version}", "web", "0.4.7", "web@0.4.7", "web@[0-9]*"),
    ],
)
def test_tag_pattern(pattern, package, version_, tag, glob) -> None:
    from releasekit.core import policy

    assert policy.package_tag(pattern, package, version_) == tag
    assert policy.tag_glob(pattern, package) == glob
    assert policy.version_of_tag(pattern, package, tag) == version_
    assert policy.version_of_tag(pattern, "other", tag) is None
    assert (
        policy.version_of_tag(pattern, package, policy.package_tag(pattern, package, "x")) is None
    )


def test_notes_per_package_and_for_the_release(repo) -> None:
    from datetime import date

    fix = commit(repo, "fix(core): a leak", "packages/core/x.py")
    site = commit(repo, "feat(site): pages", "packages/site/a.txt")
    ws = load(repo)
    planned = independent.plan(ws, None)
    day = date(2026, 1, 2)
    by_name = {r.package: r for r in planned.releases}
    core = independent.package_notes(ws, by_name["core"], day)
    assert core.startswith("## 1.4.3 (2026-01-02)")
    assert f"a leak ({fix[:7]})" in core and "pages" not in core
    app = independent.package_notes(ws, by_name["app"], day)
    assert "### Released with" in app and "dependent of core" in app and "a leak" not in app
    notes = independent.root_notes(ws, planned, day)
    assert notes.startswith(f"## {planned.release_id} (2026-01-02)")
    for line in ("- **core** 1.4.3 (`core-v1.4.3`)", "- **site** 1.5.0 (`site-v1.5.0`)"):
        assert line in notes
    assert "### site 1.5.0" in notes and "#### Features" in notes and f"({site[:7]})" in notes
    assert independent.release_message(planned) == (
        "chore(release): core-v1.4.3, site-v1.5.0, app-v1.4.3, tool-v1.4.3"
    )
