"""`invoke release`: run, resume, finish or describe a whole release.

preflight -> version -> prepare (version sites, changelog, commit) -> build -> verify ->
tag (the commit and the tag pushed atomically) -> publish (python, images, charts) ->
deploy -> health -> report.

Nothing irreversible is published before the release commit and its tag are on the
remote; from then on the version is spoken for, and a failed release is finished by
running the same command again (``--resume`` with the state file; on another machine, the
tag at HEAD says which version). Every publishing step asks the destination first and skips
identical content, so each artifact is published exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from releasekit.core.errors import ReleaseError
from releasekit.core.run import secrets_from_env
from releasekit.core.workspace import Workspace
from releasekit.release import preflight
from releasekit.release import state as pipeline
from releasekit.release import steps as release_steps
from releasekit.release.plan import (
    Options,
    Pending,
    check_resume,
    check_tag,
    dist_dir,
    lock_path,
    next_version,
    pending_release,
    state_path,
)

__all__ = [
    "Options",
    "check_tag",
    "dist_dir",
    "lock_path",
    "next_version",
    "run",
    "state_path",
    "tools_present",
]

tools_present = preflight.tools_present


def _finishing(state: pipeline.State, pending: Pending) -> None:
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
    """Run (or resume, finish, or describe) a release; returns the final context's summary."""
    secrets_from_env()
    path = state_path(ws.root)
    ctx: dict[str, Any] = {"ws": ws, "opts": opts, "root": ws.root, "progress": progress}
    if opts.dry_run:
        return _dry_run(ws, opts, ctx, say)
    with pipeline.lock(lock_path(ws.root)):
        existing = pipeline.State.load(path)
        if existing is not None and existing.complete:
            asked = opts.part is not None or opts.to is not None
            if opts.resume or (not asked and _already_released(ws, existing)):
                say(f"release {existing.version} is already complete: nothing to do")
                return {"version": existing.version, "report": existing.data.get("report")}
            existing = None
            fresh = True
        else:
            fresh = False
        if existing is not None:
            if not opts.resume:
                raise ReleaseError(
                    f"An unfinished release of {existing.version or 'a new version'} is recorded "
                    f"in {path}. Finish it with `invoke release --resume`; remove the file only "
                    "if you are sure nothing of it was published."
                )
            check_resume(existing.data.get("options", {}), opts, existing.version, path)
            state = existing
        else:
            state = pipeline.State(path)
            # After a complete release here, --part/--to ask for a new one even at HEAD.
            pending = None if fresh and (opts.part or opts.to) else _pending(ws)
            if pending is not None:
                if opts.to and opts.to != pending.version:
                    raise ReleaseError(
                        f"HEAD is the release commit of {pending.version}, which is not finished "
                        f"here; --to {opts.to} asks for another version. Finish "
                        f"{pending.version} first (`invoke release` without --to/--part)."
                    )
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
        ctx["resume_state"] = state if state.steps else None
        ctx["releasing"] = state.version
        ctx["state_steps"] = state.steps
        steps = _with_confirmation(release_steps.steps(ws, opts), state, confirm, say)
        current: list[str] = []

        def started(step: pipeline.Step, skipped: bool) -> None:
            current[:] = [step.name]
            on_start(step, skipped)

        try:
            pipeline.execute(steps, state, ctx, started, on_end)
        except ReleaseError:
            if state.steps and path.exists():
                say(
                    f"release {state.version} stopped at step `{current[0]}`; the finished steps "
                    f"are recorded in {path}. Fix the cause above, then run "
                    "`invoke release --resume` (on another machine, `invoke release` at the "
                    "release commit finishes it)."
                )
            raise
        state.data["complete"] = True
        state.data["report"] = ctx.get("report")
        state.save()
    return {"version": ctx["version"], "report": ctx.get("report")}


def _pending(ws: Workspace) -> Pending | None:
    from releasekit.core import version

    current = next(iter(version.check(ws).values()))
    return pending_release(ws, current)


def _already_released(ws: Workspace, state: pipeline.State) -> bool:
    """The complete state file is of the release HEAD is (nothing new to release)."""
    pending = _pending(ws)
    return pending is not None and pending.version == state.version


def _with_confirmation(
    steps: list[pipeline.Step],
    state: pipeline.State,
    confirm: Callable[[str], bool] | None,
    say: Callable[[str], None],
) -> list[pipeline.Step]:
    """The steps, with `version` recording its choice and asking before anything acts."""
    chooser = next(s for s in steps if s.name == "version")

    def choose(context: dict[str, Any]) -> dict[str, Any]:
        outputs = chooser.run(context)
        state.version = outputs["version"]
        state.data.setdefault("options", {})["version"] = outputs["version"]
        if confirm is not None:
            context.update(outputs)
            for line in release_steps.describe(context):
                say(line)
            if not confirm(f"Release {outputs['version']}?"):
                raise ReleaseError("Release cancelled: nothing was changed.")
        return outputs

    return [pipeline.Step(s.name, s.summary, choose) if s is chooser else s for s in steps]


def _dry_run(
    ws: Workspace, opts: Options, ctx: dict[str, Any], say: Callable[[str], None]
) -> dict[str, Any]:
    existing = pipeline.State.load(state_path(ws.root))
    if opts.resume and existing is not None and not existing.complete:
        ctx.update(_outputs(existing))
    release_steps.preflight_readonly(ctx)
    if "version" not in ctx:
        pending = _pending(ws)
        if pending is not None:
            ctx.update(
                version=pending.version,
                how=f"finishing the release committed at {pending.commit[:7]}",
                notes=pending.notes,
            )
        else:
            ctx.update(release_steps.choose_version(ctx))
    lines = release_steps.describe(ctx)
    for line in lines:
        say(line)
    say("dry run: nothing was changed")
    return {"version": ctx["version"], "plan": lines}


def _outputs(state: pipeline.State) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for step in state.steps.values():
        merged.update(step.get("outputs", {}))
    return merged
