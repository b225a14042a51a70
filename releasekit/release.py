"""`invoke release`: the plan of a whole release, and each of its steps.

preflight -> version -> prepare (version sites, changelog, commit) -> build -> verify ->
publish (python, images, charts) -> tag (and push) -> deploy -> health -> report.
Every publishing step asks the destination first and skips identical content, so a
resumed release publishes each artifact exactly once.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasekit import changelog, git, pipeline, targets, version
from releasekit.errors import PreflightError, ReleaseError, ToolError, VersionError
from releasekit.run import secrets_from_env
from releasekit.workspace import Workspace

__all__ = ["Options", "next_version", "run", "state_path"]

RELEASE_DIR = Path("build") / "release"
REQUIRED_TOOLS = ("git", "docker", "helm")


@dataclass(frozen=True)
class Options:
    """What the user asked for on the command line."""

    part: str | None = None
    to: str | None = None
    pre_token: str = "rc"
    dry_run: bool = False
    resume: bool = False
    env: str = "pilot"
    target: str = targets.SANDBOX
    allow_branch: bool = False


def state_path(root: Path) -> Path:
    """The state file of the release in progress (git-ignored)."""
    return root / RELEASE_DIR / "state.json"


def lock_path(root: Path) -> Path:
    """The lock file that keeps two releases apart."""
    return root / RELEASE_DIR / "lock"


def next_version(ws: Workspace, opts: Options, current: str) -> tuple[str, str | None, str]:
    """(next version, last release tag, how it was chosen)."""
    last = changelog.since_ref(ws)
    if opts.to or opts.part:
        new = version.bump_version(current, opts.part, opts.to, opts.pre_token)
        how = f"--to {opts.to}" if opts.to else f"--part {opts.part}"
    else:
        commits = changelog.collect(ws.root, last)
        level = changelog.level(commits)
        if level is None:
            raise VersionError(
                f"No feat, fix or breaking commit since {last or 'the first commit'}: nothing "
                "calls for a release. Pass --part or --to to release anyway."
            )
        new = version.bump_version(current, level, None)
        how = f"{level} bump from {len(commits)} conventional commits since {last or 'start'}"
    if last is not None:
        released = last.rsplit("v", 1)[-1]
        if version.parse(new) <= version.parse(released):
            raise VersionError(
                f"Version `{new}` is not higher than the last release `{released}` (tag {last}). "
                "Pass a higher --to, or a larger --part."
            )
    return new, last, how


def check_tag(root: Path, tag: str, remote: str | None) -> None:
    """A release tag that already exists at another commit is a hard failure."""
    head = git.head(root)
    remote_commit = None
    if remote:
        try:
            remote_commit = git.remote_tag_commit(root, remote, tag)
        except ToolError as exc:
            raise PreflightError(
                f"The git remote `{remote}` does not answer ({exc.stderr_tail.splitlines()[0]}). "
                "Add it (`git remote add`), or fix `git_remote` of the target in release.toml."
            ) from None
    for where, commit in (("locally", git.tag_commit(root, tag)), (f"on {remote}", remote_commit)):
        if commit is not None and commit != head:
            raise PreflightError(
                f"Tag {tag} already exists {where} at commit {commit[:12]}, not at HEAD "
                f"{head[:12]}. A released version is never moved: release a higher version."
            )


def dist_dir(root: Path, version_: str) -> Path:
    """Where every artifact of ``version_`` is written."""
    return root / "dist" / version_


def tools_present() -> None:
    """Preflight: every tool the release drives is installed."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise PreflightError(
            f"Missing tools: {', '.join(missing)}. Run `scripts/setup.sh` as root, or see "
            "`invoke doctor` for how to install each."
        )


def run(
    ws: Workspace,
    opts: Options,
    *,
    confirm: Callable[[str], bool] | None,
    on_start: Callable[[pipeline.Step, bool], None],
    on_end: Callable[[pipeline.Step, dict[str, Any], float], None],
    say: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume, or describe) a release; returns the final context's summary."""
    from releasekit import release_steps

    secrets_from_env()
    path = state_path(ws.root)
    existing = pipeline.State.load(path)
    ctx: dict[str, Any] = {"ws": ws, "opts": opts, "root": ws.root, "progress": progress}
    if opts.dry_run:
        if opts.resume and existing is not None:
            ctx.update(_outputs(existing))
            ctx["resume_state"] = existing
        release_steps.preflight_readonly(ctx)
        if "version" not in ctx:
            ctx.update(release_steps.choose_version(ctx))
        lines = release_steps.describe(ctx)
        for line in lines:
            say(line)
        say("dry run: nothing was changed")
        return {"version": ctx["version"], "plan": lines}
    with pipeline.lock(lock_path(ws.root)):
        if opts.resume:
            if existing is None:
                raise ReleaseError(
                    f"Nothing to resume: {path} does not exist. Start a release with "
                    "`invoke release`."
                )
            if existing.complete:
                say(f"release {existing.version} is already complete: nothing to do")
                return {"version": existing.version, "report": existing.data.get("report")}
            state = existing
        else:
            if existing is not None and not existing.complete:
                raise ReleaseError(
                    f"An unfinished release of {existing.version or 'a new version'} is recorded "
                    f"in {path}. Finish it with `invoke release --resume`; remove the file only "
                    "if you are sure nothing of it was published."
                )
            state = pipeline.State(path)
        ctx["resume_state"] = state if opts.resume else None
        ctx["state_steps"] = state.steps
        steps = release_steps.steps(ws, opts)
        chooser = next(s for s in steps if s.name == "version")

        def choose(context: dict[str, Any]) -> dict[str, Any]:
            outputs = chooser.run(context)
            state.version = outputs["version"]
            if confirm is not None:
                context.update(outputs)
                for line in release_steps.describe(context):
                    say(line)
                if not confirm(f"Release {outputs['version']}?"):
                    raise ReleaseError("Release cancelled: nothing was changed.")
            return outputs

        steps[steps.index(chooser)] = pipeline.Step(chooser.name, chooser.summary, choose)
        current: list[str] = []

        def started(step: pipeline.Step, skipped: bool) -> None:
            current[:] = [step.name]
            on_start(step, skipped)

        try:
            pipeline.execute(steps, state, ctx, started, on_end)
        except ReleaseError:
            if path.exists():
                say(
                    f"release {state.version} stopped at step `{current[0]}`; the finished steps "
                    f"are recorded in {path}. Fix the cause above, then run "
                    "`invoke release --resume`."
                )
            raise
        state.data["complete"] = True
        state.data["report"] = ctx.get("report")
        state.save()
    return {"version": ctx["version"], "report": ctx.get("report")}


def _outputs(state: pipeline.State) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for step in state.steps.values():
        merged.update(step.get("outputs", {}))
    return merged
