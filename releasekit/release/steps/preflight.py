"""The first two steps: preflight (every check, the target resolved) and the version."""

from __future__ import annotations

from pathlib import Path

from releasekit.core import changelog
from releasekit.release import independent
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
    """The next version from the flags or the conventional commits since the last tag.

    Under policy independent, the per-package plan (``release.independent``): the
    release's name (``ctx.version``) is its release id, ``ctx.plan`` each package's part.
    NothingToRelease when no package calls for a release.
    """
    target = ctx.dest
    remote: str | None = target.git_remote
    if target.kind == "sandbox" and not Path(target.git_remote).exists():
        remote = None  # a dry run before the sandbox's first start: no remote yet
    if ctx.ws.manifest.policy == "independent":
        _choose_packages(ctx, remote)
        return
    new, last, how = next_version(ctx.ws, ctx.opts, ctx.current, remote)
    check_tag(ctx.root, f"v{new}", remote)
    ctx.version, ctx.since, ctx.how = new, last, how
    ctx.notes = changelog.render(ctx.ws, new, changelog.collect(ctx.root, last))


def _choose_packages(ctx: Context, remote: str | None) -> None:
    opts = ctx.opts
    planned = independent.plan(
        ctx.ws, remote, packages=opts.packages, part=opts.part, to=opts.to,
        pre_token=opts.pre_token,
    )  # fmt: skip
    if not planned.releases:
        only = f" among {', '.join(opts.packages)}" if opts.packages else ""
        raise independent.NothingToRelease(
            f"nothing to release: no package{only} has a feat, fix or breaking commit since its "
            "last release (files no package owns, such as uv.lock or CI, release nothing). "
            "Pass --package NAME --part P to release one anyway."
        )
    for release in planned.releases:
        check_tag(ctx.root, release.tag, remote)
    ctx.version, ctx.since = planned.release_id, None
    ctx.how = f"independent: {len(planned.releases)} of {len(ctx.ws.packages)} packages"
    ctx.notes = independent.root_notes(ctx.ws, planned)
    ctx.plan = [r.to_json() for r in planned.releases]


class Version(Step):
    """Choose the next version and render its release notes."""

    name = "version"
    summary = "choose the next version"
    writes = ("current", "version", "since", "how", "notes", "plan")

    def run(self, ctx: Context) -> str:
        choose_version(ctx)
        return f"{ctx.version} ({ctx.how})"
