"""The tag step: the release commit and its tag pushed in one atomic push."""

from __future__ import annotations

from releasekit.core import git
from releasekit.release.context import Context
from releasekit.release.plan import check_tag
from releasekit.release.state import fault_point
from releasekit.release.steps.base import Step, check_head

__all__ = ["Tag"]


class Tag(Step):
    """Tag the release commit; push the branch and the tag in one atomic push.

    From here on the version is spoken for: every later step only publishes what this
    commit built, and a failure is finished by running the release again.
    """

    name = "tag"
    summary = "tag the release commit; push it and the tag atomically"
    writes = ("tag", "remote")

    def run(self, ctx: Context) -> str:
        ws, remote = ctx.ws, ctx.dest.git_remote
        name = f"v{ctx.version}"
        check_head(ctx)
        check_tag(ws.root, name, remote)
        if git.tag_commit(ws.root, name) is None:
            git.create_tag(ws.root, name, f"Release {ctx.version}")
        ctx.tag, ctx.remote = name, remote
        if git.remote_tag_commit(ws.root, remote, name) == ctx.commit:
            return f"{name} already on {remote}"
        fault_point("tag:pushing")
        git.push_atomic(ws.root, remote, ctx.commit, ws.manifest.branch, name)
        return f"{name} -> {remote}"
