"""The prepare step: version sites, changelog, release commit."""

from __future__ import annotations

from releasekit.core import git, version
from releasekit.release.context import Context
from releasekit.release.plan import release_message
from releasekit.release.state import fault_point
from releasekit.release.steps.base import Step

__all__ = ["Prepare"]


class Prepare(Step):
    """Write the version to every site, prepend the notes to the changelog, commit."""

    name = "prepare"
    summary = "version sites, changelog, release commit"
    writes = ("commit", "files")

    def run(self, ctx: Context) -> str:
        ws, new = ctx.ws, ctx.version
        message = release_message(new)
        if git.commit_subject(ws.root) == message:
            ctx.commit, ctx.files = git.head(ws.root), []
            return f"already committed {ctx.commit[:7]}"
        written = version.apply(ws, version.plan_bump(ws, to=new))
        notes_file = ws.root / ws.manifest.changelog
        old = notes_file.read_text(encoding="utf-8") if notes_file.exists() else "# Changelog\n"
        head, _, rest = old.partition("\n")
        notes_file.write_text(f"{head}\n\n{ctx.notes.rstrip()}\n{rest}", encoding="utf-8")
        paths = [str(p.relative_to(ws.root)) for p in [*written, notes_file]]
        fault_point("prepare:written")
        git.add(ws.root, paths)
        fault_point("prepare:added")
        git.commit(ws.root, message)
        ctx.commit, ctx.files = git.head(ws.root), paths
        return f"{len(paths)} files, {ctx.commit[:7]}"
