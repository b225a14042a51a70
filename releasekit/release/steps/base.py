"""What every release step is: a name, a one-line summary, a skip reason and a run.

A step reads and writes the typed ``Context``; ``writes`` names the context fields it
produces, which the pipeline records in the state file after the step and restores when a
resumed release skips it. ``skip`` returns why the step has nothing to do (shown as its
result), or None; ``run`` acts and returns its one-line result.
"""

from __future__ import annotations

from typing import Any

from releasekit.core import git
from releasekit.core.errors import ReleaseError
from releasekit.release import preflight as checks
from releasekit.release.context import Context

__all__ = ["Step", "check_head", "environment"]


class Step:
    """One step of the release; subclasses set the class attributes and ``run``."""

    name: str = ""
    summary: str = ""
    always: bool = False
    """Run even when the state file says the step finished (read-only checks)."""
    writes: tuple[str, ...] = ()
    """The context fields this step produces (recorded for resume)."""

    def skip(self, ctx: Context) -> str | None:
        """Why this step has nothing to do in ``ctx``, or None to run it."""
        del ctx
        return None

    def run(self, ctx: Context) -> str:
        """Do the step; its one-line result."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<step {self.name}>"


def environment(ctx: Context) -> dict[str, Any]:
    """The deploy environment of release.toml named by --env (empty for `none`)."""
    return checks.environment(ctx.ws, ctx.opts.env)


def check_head(ctx: Context) -> None:
    """HEAD is still the release commit; ReleaseError naming both commits otherwise."""
    head = git.head(ctx.root)
    if head != ctx.commit:
        raise ReleaseError(
            f"HEAD is {head[:12]} but this release committed {ctx.commit[:12]}: the branch "
            "moved during the release. Check it out again (`git checkout "
            f"{ctx.commit[:12]}`) and run `invoke release --resume`."
        )
