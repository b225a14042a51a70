"""The `check` task: the nox sessions a change affects, planned from the workspace graph."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import console, emit_json, load_workspace, reported

__all__ = ["check"]


@task(
    help={
        "since": "Changes since this ref, plus the work tree's (default: the merge base of HEAD "
        "and the release branch of release.toml).",
        "plan": "Print the plan (sessions, test folders, reasons) and run nothing.",
        "json": "With --plan: print it as JSON.",
    }
)
def check(c: Context, since: str | None = None, plan: bool = False, json: bool = False) -> None:
    """Run the nox sessions and test folders that the changes since a ref can affect."""
    from releasekit.core import affected

    with reported():
        ws = load_workspace()
        ref = since or affected.default_since(ws)
        chosen = affected.plan(ws, affected.changed(ws, ref), since=ref)
        if json:
            emit_json(chosen.to_json())
            return
        for line in chosen.lines():
            console.print(line, markup=False, soft_wrap=True)
        if not plan:
            affected.run_sessions(ws, ref)
