from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.core import manifest, workspace
from releasekit.core.errors import PreflightError, ReleaseError, VersionError
from releasekit.release import pipeline as release
from releasekit.release import state as pipeline
from releasekit.release.context import Context

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


# -- orchestration: resume, finish without state, refusals ------------------------------------


class _Plan:
    """A release whose steps record their calls; ``fail`` names the step that raises."""

    NAMES = ("preflight", "version", "prepare", "build", "tag", "publish", "deploy", "health")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[str] = []
        self.seen: dict[str, object] = {}
        self.fail: str | None = None

    def steps(self, ws: workspace.Workspace, opts: release.Options) -> list[release.Step]:
        plan = self

        class Recorded(release.Step):
            writes = ("version", "notes", "how", "commit")

            def __init__(self, name: str) -> None:
                self.name, self.summary, self.always = name, name, name == "preflight"

            def run(self, ctx: Context) -> str:
                plan.calls.append(self.name)
                if self.name == plan.fail:
                    raise ReleaseError(f"{self.name} failed on purpose")
                if self.name == "version":
                    ctx.version, ctx.notes, ctx.how = "1.5.0", "## 1.5.0", "test"
                elif self.name == "prepare":
                    ctx.commit = git(plan.root, "rev-parse", "HEAD").strip()
                elif self.name != "report":
                    plan.seen[self.name] = (ctx.version or None, ctx.commit or None)
                return self.name

        return [Recorded(n) for n in self.NAMES]

    def run(self, opts: release.Options) -> dict[str, object]:
        return release.run(
            load(self.root), opts, confirm=None, on_start=_quiet, on_end=_quiet, say=_quiet
        )


def _quiet(*_args: object) -> None:
    return None


@pytest.fixture
def plan(make_repo, monkeypatch: pytest.MonkeyPatch) -> _Plan:
    root = make_repo()
    (root / ".gitignore").write_text("build/\n")
    git(root, "add", ".gitignore")
    git(root, "commit", "-qm", "chore: ignore build")
    made = _Plan(root)
    monkeypatch.setattr("releasekit.release.pipeline.release_steps.steps", made.steps)
    return made


def test_health_failure_then_resume_runs_only_what_is_left(plan: _Plan) -> None:
    plan.fail = "health"
    with pytest.raises(ReleaseError, match="health failed on purpose"):
        plan.run(release.Options())
    assert plan.calls == list(_Plan.NAMES)
    plan.fail, plan.calls = None, []
    with pytest.raises(ReleaseError, match=r"unfinished release of 1\.5\.0.*--resume"):
        plan.run(release.Options())
    plan.run(release.Options(resume=True))
    assert plan.calls == ["preflight", "health"]
    state = pipeline.State.load(release.state_path(plan.root))
    assert state is not None and state.complete
    assert state.data["options"] == {"target": "sandbox", "env": "pilot", "version": "1.5.0"}


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (
            release.Options(resume=True, env="none"),
            r"--env pilot, but this resume asks for --env none",
        ),
        (
            release.Options(resume=True, target="production"),
            r"--target sandbox, but this resume asks for --target production",
        ),
        (release.Options(resume=True, to="2.0.0"), r"is version 1\.5\.0.*--to 2\.0\.0"),
    ],
)
def test_resume_with_other_options_is_refused(plan: _Plan, opts, message: str) -> None:
    plan.fail = "publish"
    with pytest.raises(ReleaseError, match="publish failed"):
        plan.run(release.Options())
    plan.fail, plan.calls = None, []
    with pytest.raises(ReleaseError, match=message):
        plan.run(opts)
    assert plan.calls == []


def test_resume_takes_target_and_env_from_the_state_unless_given(plan: _Plan) -> None:
    plan.fail = "deploy"
    with pytest.raises(ReleaseError, match="deploy failed"):
        plan.run(release.Options(env="cluster", target="sandbox"))
    plan.fail, plan.calls = None, []
    # Nothing given on the command line: the recorded env and target, not the defaults.
    plan.run(release.Options(resume=True, given=frozenset()))
    assert plan.calls == ["preflight", "deploy", "health"]
    state = pipeline.State.load(release.state_path(plan.root))
    assert state is not None and state.complete
    assert state.data["options"] == {"target": "sandbox", "env": "cluster", "version": "1.5.0"}


def test_resume_refuses_only_an_explicitly_different_value(plan: _Plan) -> None:
    plan.fail = "deploy"
    with pytest.raises(ReleaseError, match="deploy failed"):
        plan.run(release.Options(env="cluster"))
    plan.fail, plan.calls = None, []
    with pytest.raises(ReleaseError, match=r"--env cluster, but this resume asks for --env pilot"):
        plan.run(release.Options(resume=True, env="pilot", given=frozenset({"env"})))
    with pytest.raises(ReleaseError, match=r"is version 1\.5\.0.*--to 1\.6\.0"):
        plan.run(release.Options(resume=True, to="1.6.0", given=frozenset()))
    assert plan.calls == []
    plan.run(release.Options(resume=True, env="cluster", to="1.5.0", given=frozenset({"env"})))
    assert plan.calls == ["preflight", "deploy", "health"]


def test_a_rerun_without_state_finishes_the_release_at_head(plan: _Plan) -> None:
    git(plan.root, "commit", "--allow-empty", "-qm", "chore(release): v1.4.2")
    head = git(plan.root, "rev-parse", "HEAD").strip()
    plan.run(release.Options())
    assert "version" not in plan.calls and "prepare" not in plan.calls
    assert plan.calls == ["preflight", "build", "tag", "publish", "deploy", "health"]
    assert plan.seen["publish"] == ("1.4.2", head)
    # Run again: the state says it is complete and HEAD is still that release.
    plan.calls = []
    plan.run(release.Options())
    assert plan.calls == []


def test_a_rerun_at_a_release_commit_refuses_another_version(plan: _Plan) -> None:
    git(plan.root, "commit", "--allow-empty", "-qm", "chore(release): v1.4.2")
    with pytest.raises(ReleaseError, match=r"release commit of 1\.4\.2.*--to 1\.6\.0"):
        plan.run(release.Options(to="1.6.0"))


def test_resume_without_state_or_release_commit_says_so(plan: _Plan) -> None:
    with pytest.raises(ReleaseError, match=r"Nothing to resume.*not a release commit"):
        plan.run(release.Options(resume=True))


@pytest.mark.parametrize("token", ["rc", "dev", "alpha", "beta"])
def test_a_pre_release_token_round_trips(make_repo, token: str) -> None:
    root = make_repo(version=f"2.0.0-{token}.1")
    git(root, "tag", "-a", f"v2.0.0-{token}.1", "-m", "pre")
    _commit(root, "fix: a")
    new, last, _ = release.next_version(load(root), release.Options(), f"2.0.0-{token}.1")
    assert (new, last) == (f"2.0.0-{token}.2", f"v2.0.0-{token}.1")
    final, _, _ = release.next_version(
        load(root), release.Options(part="release"), f"2.0.0-{token}.2"
    )
    assert final == "2.0.0"


def test_package_flag_is_refused_under_lockstep(plan: _Plan) -> None:
    with pytest.raises(ReleaseError, match=r"--package core is only meaningful under policy"):
        plan.run(release.Options(packages=("core",)))
    assert plan.calls == []
