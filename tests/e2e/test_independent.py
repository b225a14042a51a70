"""Policy independent on a copy of this repository with the sandbox's real git remote.

The copy (pinned to 0.1.0) is released once under lockstep (tag v0.1.0 on the sandbox's
remote), then switched to ``independent``: each package is planned from its own last
release, and what changed decides what is released; a ``[[release.groups]]`` entry moves
its packages together. Nothing here publishes: the dry run shows the per-package plan, and
a release with nothing to release says so and exits 0.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.test_release import Repo, _catalog, _index, git, sandbox_repo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def indep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    r = sandbox_repo(tmp_path_factory.mktemp("e2e-independent"), "docker-registry")
    git(r.path, "tag", "-a", "v0.1.0", "-m", "Release 0.1.0")
    manifest = r.path / "release.toml"
    manifest.write_text(
        manifest.read_text().replace('policy = "lockstep"', 'policy = "independent"')
    )
    git(r.path, "commit", "-qam", "chore: release each package on its own")
    r.invoke("sandbox.up")
    remote = str(r.path / ".sandbox/remote.git")
    git(r.path, "push", "-q", remote, "main", "v0.1.0")
    yield r
    r.invoke("sandbox.down", "--purge", ok=False)


def _refs(repo: Repo) -> str:
    return git(repo.path / ".sandbox/remote.git", "for-each-ref")


def test_root_files_release_nothing(indep: Repo) -> None:
    indep.commit("uv.lock", "chore: relock")
    indep.commit(".github/workflows/ci.yml", "ci: cache the venv")
    indep.commit("noxfile.py", "feat: a new session for the toolkit")
    git(indep.path, "push", "-q", str(indep.path / ".sandbox/remote.git"), "main")
    host = indep.sandbox()["registry_host"]
    refs, catalog, index = _refs(indep), _catalog(host), _index(indep)
    for args in (("--dry-run",), ("--yes", "--env", "none")):
        proc = indep.invoke("release", *args)
        assert "nothing to release" in proc.stdout
    assert not (indep.path / "build/release/state.json").exists()
    assert (_refs(indep), _catalog(host), _index(indep)) == (refs, catalog, index)
    assert git(indep.path, "status", "--porcelain") == ""


def test_dry_run_plans_only_what_changed(indep: Repo) -> None:
    host = indep.sandbox()["registry_host"]
    indep.commit("packages/marketing-site/README.md", "fix(marketing-site): a typo")
    out = indep.invoke("release", "--dry-run").stdout
    assert "release marketing-site-0.1.1 (independent: 1 of 5 packages)" in out
    assert "marketing-site 0.1.0 -> 0.1.1 (patch, since v0.1.0): fix(marketing-site): a typo" in out
    assert "unchanged (keep their last release): sandbox, agent-runtime, cli, control-panel" in out
    assert f"image {host}/ironcage/marketing-site: 0.1.1, 0.1, 0, latest" in out
    assert "wheel " not in out and "sdist " not in out  # nothing reaches the index
    assert "ironcage/agent-runtime:" not in out and "control-panel-api:" not in out
    assert "$ git tag -a marketing-site-v0.1.1" in out

    indep.commit("packages/sandbox/README.md", "feat(sandbox): a memory limit")
    out = indep.invoke("release", "--dry-run").stdout
    assert "sandbox 0.1.0 -> 0.2.0 (minor, since v0.1.0): feat(sandbox): a memory limit" in out
    assert "agent-runtime 0.1.0 -> 0.1.1 (patch, since v0.1.0): dependent of sandbox" in out
    assert "cli 0.1.0 -> 0.1.1 (patch, since v0.1.0): dependent of sandbox" in out
    assert "unchanged (keep their last release): control-panel" in out
    assert "wheel ironcage-agent-runtime 0.1.1" in out
    assert "refs/tags/sandbox-v0.2.0 refs/tags/marketing-site-v0.1.1" in out

    out = indep.invoke("release", "--dry-run", "--package", "marketing-site").stdout
    assert "release marketing-site-0.1.1 (independent: 1 of 5 packages)" in out


def test_a_tag_never_pushed_does_not_block(indep: Repo) -> None:
    refs = _refs(indep)
    git(indep.path, "tag", "-a", "marketing-site-v0.1.1", "-m", "left by a failed release")
    out = indep.invoke("release", "--dry-run", "--package", "marketing-site").stdout
    assert "marketing-site 0.1.0 -> 0.1.1 (patch, since v0.1.0)" in out
    assert _refs(indep) == refs


def test_a_partial_release_plans_the_pilot_with_every_image_by_digest(indep: Repo) -> None:
    out = indep.invoke("release", "--dry-run", "--package", "marketing-site").stdout
    words = " ".join(out.split())  # the plan is wrapped at the console's width
    assert (
        "$ compose up: pilot runs every image by its digest in "
        "dist/marketing-site-0.1.1/images.json (released, else kept)"
    ) in words
    assert "health answers control-panel's last release" in words


def test_a_partial_release_plans_every_chart_for_a_helm_environment(indep: Repo) -> None:
    out = indep.invoke("release", "--dry-run", "--package", "marketing-site", "--env", "cluster")
    assert "helm dev: every chart, each at its package's version" in out.stdout
    out = indep.invoke("release", "--dry-run", "--package", "marketing-site", "--env", "dev")
    assert "gitops dev: commit clusters/dev, every chart at its package's version" in out.stdout
    assert "refuses" not in out.stdout


def test_a_group_releases_its_packages_together(indep: Repo) -> None:
    """A fix of one package of a group of two releases both at its bump, one tag each."""
    remote = indep.path / ".sandbox/remote.git"
    head = git(indep.path, "rev-parse", "HEAD")
    git(indep.path, "reset", "-q", "--hard", git(remote, "rev-parse", "main"))  # nothing pending
    try:
        manifest = indep.path / "release.toml"
        group = (
            '\n[[release.groups]]\nname = "web"\npackages = ["control-panel", "marketing-site"]\n'
        )
        manifest.write_text(
            manifest.read_text().replace("\n[[packages]]", group + "\n[[packages]]", 1)
        )
        git(indep.path, "commit", "-qam", "chore: release the web packages together")
        indep.commit("packages/marketing-site/README.md", "fix(marketing-site): a broken link")
        host = indep.sandbox()["registry_host"]
        refs = _refs(indep)
        out = indep.invoke("release", "--dry-run").stdout
        header = next(line for line in out.splitlines() if line.startswith("release "))
        assert header.endswith("(independent: 2 of 5 packages):"), header
        released = sorted(header.split()[1].split("+"))
        assert released == ["control-panel-0.1.1", "marketing-site-0.1.1"]
        since = "0.1.0 -> 0.1.1 (patch, since v0.1.0)"
        assert f"marketing-site {since}: fix(marketing-site): a broken link" in out
        assert f"control-panel {since}: group web with marketing-site" in out
        assert "unchanged (keep their last release): sandbox, agent-runtime, cli" in out
        tags = sorted(line for line in out.splitlines() if line.startswith("$ git tag -a"))
        assert tags == ["$ git tag -a control-panel-v0.1.1", "$ git tag -a marketing-site-v0.1.1"]
        for image in ("control-panel-api", "control-panel-web", "marketing-site"):
            assert f"image {host}/ironcage/{image}: 0.1.1, 0.1, 0, latest" in out
        assert "ironcage/agent-runtime:" not in out
        assert "wheel " not in out and "sdist " not in out  # nothing reaches the index
        pushed = next(line for line in out.splitlines() if line.startswith("$ git push"))
        assert sorted(word for word in pushed.split() if word.startswith("refs/tags/")) == [
            "refs/tags/control-panel-v0.1.1",
            "refs/tags/marketing-site-v0.1.1",
        ]
        # The release commit versions both packages, nothing else.
        indep.invoke("release", "--yes", "--env", "none", "--stop-after", "prepare")
        subject = git(indep.path, "log", "-1", "--format=%s")
        assert sorted(subject.removeprefix("chore(release): ").split(", ")) == [
            "control-panel-v0.1.1",
            "marketing-site-v0.1.1",
        ]
        touched = git(indep.path, "show", "--name-only", "--format=", "HEAD").split()
        assert {path.split("/")[1] for path in touched if path.startswith("packages/")} == {
            "control-panel",
            "marketing-site",
        }
        log = (indep.path / "packages/control-panel/CHANGELOG.md").read_text()
        assert "## 0.1.1" in log and "group web with marketing-site" in log
        assert _refs(indep) == refs  # nothing is tagged or pushed before the tag step
        # Nothing is published yet, so the release is undone as a whole.
        before = git(indep.path, "rev-parse", "HEAD^")
        indep.invoke("release", "--abort")
        assert git(indep.path, "rev-parse", "HEAD") == before
        assert not (indep.path / "build/release/state.json").exists()
        assert _refs(indep) == refs
    finally:
        git(indep.path, "reset", "-q", "--hard", head)
        (indep.path / "build/release/state.json").unlink(missing_ok=True)
