"""`invoke release`: run, resume, finish or describe a whole release.

preflight -> version -> prepare (version sites, changelog, commit) -> build -> verify ->
tag (the commit and the tag pushed atomically) -> publish (python, images, charts) ->
sign -> verify-published -> deploy -> health -> report.

Nothing irreversible is published before the release commit and its tag are on the
remote; from then on the version is spoken for, and a failed release is finished by
running the same command again (``--resume`` with the state file; on another machine, the
tag at HEAD says which version). Every publishing step asks the destination first and skips
identical content, so each artifact is published exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from releasekit.core.errors import ReleaseError
from releasekit.core.run import secrets_from_env
from releasekit.core.workspace import Workspace
from releasekit.release import preflight
from releasekit.release import steps as release_steps
from releasekit.release.context import Context
from releasekit.release.independent import NothingToRelease
from releasekit.release.plan import (
    BEFORE_TAG,
    Options,
    Pending,
    check_pending,
    check_resume,
    check_tag,
    dist_dir,
    git_remote,
    lock_path,
    next_version,
    pending_release,
    state_path,
    version_before,
)
from releasekit.release.state import FAULT_ENV, PREVIOUS, State, lock
from releasekit.release.steps import Step

__all__ = [
    "Options",
    "Step",
    "check_tag",
    "dist_dir",
    "execute",
    "lock_path",
    "next_version",
    "run",
    "state_path",
    "tools_present",
]

tools_present = preflight.tools_present

OnStart = Callable[[Step, bool], None]
OnEnd = Callable[[Step, dict[str, Any], float], None]


def execute(
    steps: list[Step], state: State, ctx: Context, on_start: OnStart, on_end: OnEnd
) -> None:
    """Run ``steps`` in order, skipping those the state records as done; save after each.

    A step the state records is not run again: what it produced is restored into ``ctx``.
    A step whose ``skip`` gives a reason is recorded with that reason as its result.
    """
    fault = os.environ.get(FAULT_ENV, "")
    for step in steps:
        if state.done(step.name) and not step.always:
            outputs = state.steps[step.name].get("outputs", {})
            ctx.restore(outputs)
            on_start(step, True)
            on_end(step, outputs, 0.0)
            continue
        on_start(step, False)
        started = time.monotonic()
        reason = step.skip(ctx)
        summary = step.run(ctx) if reason is None else reason
        outputs = {**ctx.export(step.writes), "summary": summary}
        if not step.always:
            state.record(step.name, outputs, started)
        on_end(step, outputs, time.monotonic() - started)
        if fault == f"kill-after:{step.name}":
            os.kill(os.getpid(), signal.SIGKILL)
        if step.name == ctx.opts.stop_after:
            return


def _finishing(state: State, pending: Pending) -> None:
    """Record `version` and `prepare` as done: HEAD is the release commit of ``pending``."""
    state.version = pending.version
    state.steps["version"] = {
        "status": "done",
        "seconds": 0.0,
        "outputs": {
            "version": pending.version,
            "since": pending.since,
            "how": f"finishing the release committed at {pending.commit[:7]}",
            "notes": pending.notes,
            "plan": list(pending.plan),
            "summary": f"{pending.version} (release commit at HEAD)",
        },
    }
    state.steps["prepare"] = {
        "status": "done",
        "seconds": 0.0,
        "outputs": {
            "commit": pending.commit,
            "files": [],
            "summary": f"already committed {pending.commit[:7]}",
        },
    }


class _Confirmed(Step):
    """The `version` step, recording its choice and asking before anything acts."""

    def __init__(
        self,
        chooser: Step,
        state: State,
        confirm: Callable[[str], bool] | None,
        say: Callable[[str], None],
    ) -> None:
        self.chooser, self.state, self.confirm, self.say = chooser, state, confirm, say
        self.name, self.summary, self.always = chooser.name, chooser.summary, chooser.always
        self.writes = chooser.writes

    def skip(self, ctx: Context) -> str | None:
        return self.chooser.skip(ctx)

    def run(self, ctx: Context) -> str:
        summary = self.chooser.run(ctx)
        self.state.version = ctx.version
        self.state.data.setdefault("options", {})["version"] = ctx.version
        if self.confirm is not None:
            for line in release_steps.describe(ctx):
                self.say(line)
            if not self.confirm(f"Release {ctx.version}?"):
                raise ReleaseError("Release cancelled: nothing was changed.")
        return summary


def run(
    ws: Workspace,
    opts: Options,
    *,
    confirm: Callable[[str], bool] | None,
    on_start: OnStart,
    on_end: OnEnd,
    say: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume, finish, or describe) a release; returns the final context's summary."""
    secrets_from_env()
    path = state_path(ws.root)
    ctx = Context(ws=ws, opts=opts, progress=progress)
    if opts.stop_after is not None and opts.stop_after not in BEFORE_TAG:
        raise ReleaseError(
            f"--stop-after {opts.stop_after}: a release stops only before anything is "
            f"published, after one of {', '.join(BEFORE_TAG)}."
        )
    if opts.packages and ws.manifest.policy != "independent":
        raise ReleaseError(
            f"--package {','.join(opts.packages)} is only meaningful under policy "
            f"`independent`, but {ws.manifest.path} sets policy `{ws.manifest.policy}`, where "
            "one version covers every package. Drop --package, or set [release].policy = "
            '"independent".'
        )
    if opts.dry_run:
        try:
            return _dry_run(ctx, say)
        except NothingToRelease as exc:
            say(str(exc))
            return {"version": "", "nothing": True}
    with lock(lock_path(ws.root)):
        existing = State.load(path)
        finished: dict[str, Any] | None = None
        if existing is not None and existing.complete:
            asked = opts.part is not None or opts.to is not None
            if opts.resume or (not asked and _already_released(ws, existing, opts)):
                say(f"release {existing.version} is already complete: nothing to do")
                return {"version": existing.version, "report": existing.data.get("report")}
            finished = {k: v for k, v in existing.data.items() if k != PREVIOUS}
            existing = None
        if existing is not None:
            if not opts.resume:
                raise ReleaseError(
                    f"An unfinished release of {existing.version or 'a new version'} is recorded "
                    f"in {path}. Finish it with `invoke release --resume`, or undo it with "
                    "`invoke release --abort` when nothing of it was published."
                )
            recorded = existing.data.get("options", {})
            opts = ctx.opts = opts.resumed(recorded)
            before = existing.steps.get("version", {}).get("outputs", {}).get("current", "")
            check_resume(recorded, opts, existing.version, path, str(before or ""))
            state = existing
        else:
            state = State(path)
            if finished is not None:
                state.data[PREVIOUS] = finished
            # After a complete release here, --part/--to ask for a new one even at HEAD.
            asked_new = finished is not None and bool(opts.part or opts.to)
            pending = None if asked_new else _pending(ws, opts)
            if pending is not None:
                check_pending(opts, pending, version_before(ws, pending.commit))
                _finishing(state, pending)
                say(
                    f"HEAD is the release commit of {pending.version}: finishing that release "
                    "(destinations that hold it already are skipped)"
                )
                if confirm is not None and not confirm(f"Finish release {pending.version}?"):
                    raise ReleaseError("Release cancelled: nothing was changed.")
            elif opts.resume:
                raise ReleaseError(
                    f"Nothing to resume: {path} does not exist and HEAD is not a release commit. "
                    "Start a release with `invoke release`."
                )
        state.data["options"] = {**state.data.get("options", {}), **opts.recorded()}
        if opts.merge and state.steps:
            state.save()  # a resume after a kill during the merge adopts the same folders
        ctx.state, ctx.resuming = state, bool(state.steps)
        steps = [
            _Confirmed(s, state, confirm, say) if s.name == "version" else s
            for s in release_steps.steps(ws, opts)
        ]
        current: list[str] = []

        def started(step: Step, skipped: bool) -> None:
            current[:] = [step.name]
            on_start(step, skipped)

        try:
            execute(steps, state, ctx, started, on_end)
        except NothingToRelease as exc:
            say(str(exc))
            return {"version": "", "report": None, "nothing": True}
        except ReleaseError:
            if state.steps and path.exists():
                undo = (
                    ""
                    if state.done("tag")
                    else "; nothing is published yet, so `invoke release --abort` undoes it"
                )
                say(
                    f"release {state.version} stopped at step `{current[0]}`; the finished steps "
                    f"are recorded in {path}. Fix the cause above, then run "
                    "`invoke release --resume` (on another machine, `invoke release` at the "
                    f"release commit finishes it){undo}."
                )
            raise
        if opts.stop_after is not None and not state.done(steps[-1].name):
            say(
                f"release {state.version} stopped after `{opts.stop_after}` as asked; the "
                f"finished steps are recorded in {path}. `invoke release --resume` publishes "
                "it (on another machine: `invoke release.pack` here, then `invoke "
                "release.unpack` there with dist/ and build/release/)."
            )
            return {"version": ctx.version, "report": None, "stopped_after": opts.stop_after}
        state.data["complete"] = True
        state.data["report"] = ctx.report or None
        state.save()
    return {"version": ctx.version, "report": ctx.report or None}


def _pending(ws: Workspace, opts: Options) -> Pending | None:
    from releasekit.core import version
    from releasekit.release import pending

    if ws.manifest.policy == "independent":
        return pending.pending_release(ws, git_remote(ws, opts.target))
    current = next(iter(version.check(ws).values()))
    return pending_release(ws, current, git_remote(ws, opts.target))


def _already_released(ws: Workspace, state: State, opts: Options) -> bool:
    """The complete state file is of the release HEAD is (nothing new to release)."""
    pending = _pending(ws, opts)
    return pending is not None and pending.version == state.version


def _dry_run(ctx: Context, say: Callable[[str], None]) -> dict[str, Any]:
    existing = State.load(state_path(ctx.root))
    if ctx.opts.resume and existing is not None and not existing.complete:
        ctx.opts = ctx.opts.resumed(existing.data.get("options", {}))
        for step in existing.steps.values():
            ctx.restore(step.get("outputs", {}))
    release_steps.preflight_readonly(ctx)
    asked_new = existing is not None and existing.complete and bool(ctx.opts.part or ctx.opts.to)
    if not ctx.version and not asked_new:
        pending = _pending(ctx.ws, ctx.opts)
        if pending is not None:
            check_pending(ctx.opts, pending, version_before(ctx.ws, pending.commit))
            ctx.version, ctx.notes = pending.version, pending.notes
            ctx.plan = [dict(entry) for entry in pending.plan]
            ctx.how = f"finishing the release committed at {pending.commit[:7]}"
    if not ctx.version:
        release_steps.choose_version(ctx)
    lines = release_steps.describe(ctx)
    for line in lines:
        say(line)
    say("dry run: nothing was changed")
    return {"version": ctx.version, "plan": lines}
