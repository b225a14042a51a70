"""The tag step: the release commit and its tag pushed in one atomic push."""

from __future__ import annotations

from releasekit.core import git
from releasekit.core.errors import ConflictError, ToolError
from releasekit.release.context import Context
from releasekit.release.plan import check_tag, moved_remote
from releasekit.release.state import fault_point
from releasekit.release.steps.base import Step, check_head

__all__ = ["Tag"]


class Tag(Step):
    """Tag the release commit; push the branch and the tag in one atomic push.

    From here on the version is spoken for: every later step only publishes what this
    commit built, and a failure is finished by running the release again. A local tag of
    this version that the remote lacks (left by an attempt that never pushed) is moved to
    the release commit: it was never published.
    """

    name = "tag"
    summary = "tag the release commit; push it and the tag atomically"
    writes = ("tag", "remote")

    def run(self, ctx: Context) -> str:
        ws, remote = ctx.ws, ctx.dest.git_remote
        if ctx.plan:  # policy independent: one tag per released package
            made = {str(e["tag"]): f"Release {e['package']} {e['new']}" for e in ctx.plan}
        else:
            made = {f"v{ctx.version}": f"Release {ctx.version}"}
        names = list(made)
        check_head(ctx)
        for name, message in made.items():
            check_tag(ws.root, name, remote)
            local = git.tag_commit(ws.root, name)
            if local is not None and local != ctx.commit:
                git.delete_tag(ws.root, name)  # never pushed (check_tag): not a release
                local = None
            if local is None:
                git.create_tag(ws.root, name, message)
        shown = ", ".join(names)
        ctx.tag, ctx.remote = " ".join(names), remote
        if all(git.remote_tag_commit(ws.root, remote, name) == ctx.commit for name in names):
            return f"{shown} already on {remote}"
        fault_point("tag:pushing")
        branch = ws.manifest.branch
        try:
            git.push_atomic(ws.root, remote, ctx.commit, branch, *names)
        except ToolError as exc:
            theirs = git.remote_branch(ws.root, remote, branch)
            if theirs is None or git.is_ancestor(ws.root, theirs, ctx.commit):
                raise
            told = exc.stderr_tail.strip().splitlines() or ["rejected"]
            reason = next((line for line in told if "rejected" in line), told[-1]).strip()
            what = (
                f"`{remote}` refused the push of the release commit {ctx.commit[:12]} and tag "
                f"{shown} ({reason})"
            )
            raise ConflictError(moved_remote(what, remote, branch, theirs, ctx.version)) from None
        return f"{shown} -> {remote}"
