"""The first two steps: preflight (every check, the target resolved) and the version."""

from __future__ import annotations

from pathlib import Path

from releasekit.core import changelog
from releasekit.release import preflight as checks
from releasekit.release.context import Context
from releasekit.release.plan import check_tag, next_version
from releasekit.release.steps.base import Step

__all__ = ["Preflight", "Version", "choose_version", "preflight_readonly"]


class Preflight(Step):
    """Clean tree, branch, remote, tools, target and its credentials, versions, environment."""

    name = "preflight"
    summary = "clean tree, branch, tools, target, versions"
    always = True

    def run(self, ctx: Context) -> str:
        if ctx.resuming and ctx.state is not None:
            checks.restore_interrupted_prepare(ctx.ws, ctx.state.done("prepare"))
        releasing = ctx.state.version if ctx.state is not None else ""
        current, ctx.target = checks.check(
            ctx.ws,
            ctx.opts.target,
            ctx.opts.env,
            readonly=False,
            releasing=releasing,
            publishing=ctx.opts.publishing,
        )
        ctx.current = ctx.current or current
        return f"ready: {current} everywhere, target {ctx.opts.target}"


def preflight_readonly(ctx: Context) -> None:
    """The preflight checks of a dry run: nothing started, nothing written, nothing asked."""
    current, ctx.target = checks.check(ctx.ws, ctx.opts.target, ctx.opts.env, readonly=True)
    ctx.current = ctx.current or current


def choose_version(ctx: Context) -> None:
    """The next version from the flags or the conventional commits since the last tag."""
    target = ctx.dest
    remote: str | None = target.git_remote
    if target.kind == "sandbox" and not Path(target.git_remote).exists():
        remote = None  # a dry run before the sandbox's first start: no remote yet
    new, last, how = next_version(ctx.ws, ctx.opts, ctx.current, remote)
    check_tag(ctx.root, f"v{new}", remote)
    ctx.version, ctx.since, ctx.how = new, last, how
    ctx.notes = changelog.render(ctx.ws, new, changelog.collect(ctx.root, last))


class Version(Step):
    """Choose the next version and render its release notes."""

    name = "version"
    summary = "choose the next version"
    writes = ("current", "version", "since", "how", "notes")

    def run(self, ctx: Context) -> str:
        choose_version(ctx)
        return f"{ctx.version} ({ctx.how})"
