"""The prepare step: version sites, changelog, release commit."""

from __future__ import annotations

from pathlib import Path

from releasekit.core import git, version
from releasekit.release import independent
from releasekit.release.chart_bumps import chart_bumps
from releasekit.release.context import Context
from releasekit.release.plan import release_message
from releasekit.release.state import fault_point
from releasekit.release.steps.base import Step

__all__ = ["Prepare"]


def _prepend(path: Path, notes: str) -> None:
    """Put ``notes`` under the first line (the title) of the changelog ``path``."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Changelog\n"
    head, _, rest = old.partition("\n")
    path.write_text(f"{head}\n\n{notes.rstrip()}\n{rest}", encoding="utf-8")


class Prepare(Step):
    """Write the version to every site, prepend the notes to the changelog, commit.

    Under policy independent: each released package's version (and its dependents' pins),
    its own section at the top of its CHANGELOG.md, and the release's notes (every package
    with its version) in the root changelog; the commit's subject lists the tags.
    """

    name = "prepare"
    summary = "version sites, changelog, release commit"
    writes = ("commit", "files")

    def run(self, ctx: Context) -> str:
        ws, new = ctx.ws, ctx.version
        planned = independent.ReleasePlan.from_context(ctx.plan) if ctx.plan else None
        message = release_message(new) if planned is None else independent.release_message(planned)
        if git.commit_subject(ws.root) == message:
            ctx.commit, ctx.files = git.head(ws.root), []
            return f"already committed {ctx.commit[:7]}"
        if planned is None:
            written = version.apply(ws, version.plan_bump(ws, to=new))
            logs = []
        else:
            moved = chart_bumps(ws, planned.versions)
            written = version.apply(ws, planned.bumps(), {b.file: b.new for b in moved})
            logs = [ws.get(r.package).dir / "CHANGELOG.md" for r in planned.releases]
            for release, path in zip(planned.releases, logs, strict=True):
                _prepend(path, independent.package_notes(ws, release))
        notes_file = ws.root / ws.manifest.changelog
        _prepend(notes_file, ctx.notes)
        paths = [str(p.relative_to(ws.root)) for p in [*written, *logs, notes_file]]
        fault_point("prepare:written")
        git.add(ws.root, paths)
        fault_point("prepare:added")
        git.commit(ws.root, message)
        ctx.commit, ctx.files = git.head(ws.root), paths
        return f"{len(paths)} files, {ctx.commit[:7]}"
