"""An independent release whose commit is at HEAD: finished without its state file.

The release commit of an independent release (``chore(release): sandbox-v1.3.0,
cli-v1.2.1``) names every package it releases by tag. A re-run at that commit, on any
machine, finishes that release (same versions, same bytes, the same tags) instead of
planning a new one: each tag gives its package and version, every version site must hold
it, and the notes are the release's section of the root changelog as the commit wrote it.
"""

from __future__ import annotations

from releasekit.core import git, policy, version
from releasekit.core.run import run
from releasekit.core.workspace import Workspace
from releasekit.release.independent import PackageRelease, ReleasePlan, last_package_release
from releasekit.release.plan import Pending

__all__ = ["pending_release"]

_PREFIX = "chore(release): "


def _notes(ws: Workspace, commit: str, release_id: str) -> str:
    """The release's section at the top of the root changelog at ``commit``."""
    shown = run(
        ["git", "-C", str(ws.root), "show", f"{commit}:{ws.manifest.changelog}"],
        check=False, mutates=False, quiet=True,
    )  # fmt: skip
    text = shown.stdout if shown.returncode == 0 else ""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(f"## {release_id} ")), None)
    if start is None:
        return f"## {release_id}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).rstrip() + "\n"


def pending_release(ws: Workspace, remote: str | None) -> Pending | None:
    """The independent release HEAD's commit made, if HEAD is one and every site agrees."""
    subject = git.commit_subject(ws.root)
    if not subject.startswith(_PREFIX):
        return None
    current = version.current(ws)
    head = git.head(ws.root)
    releases = []
    for tag in subject.removeprefix(_PREFIX).split(", "):
        found = [
            (pkg, v)
            for pkg in ws.order()
            if (v := policy.version_of_tag(ws.manifest.tag, pkg, tag)) is not None
        ]
        if len(found) != 1 or current[found[0][0]] != found[0][1]:
            return None
        pkg, new = found[0]
        since, old = last_package_release(ws, pkg, remote, f"{head}^")
        releases.append(
            PackageRelease(
                package=pkg,
                old=old or "",
                new=new,
                tag=tag,
                since=since,
                level="finish",
                reasons=(f"finishing the release committed at {head[:7]}",),
            )
        )
    planned = ReleasePlan(tuple(releases))
    notes = _notes(ws, head, planned.release_id)
    return Pending(
        planned.release_id, head, None, notes, tuple(r.to_json() for r in planned.releases)
    )
