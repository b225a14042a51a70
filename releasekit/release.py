"""`invoke release`: the plan of a whole release, and each of its steps.

preflight -> version -> prepare (version sites, changelog, commit) -> build -> verify ->
publish (python, images, charts) -> tag (and push) -> deploy -> health -> report.
Every publishing step asks the destination first and skips identical content, so a
resumed release publishes each artifact exactly once.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasekit import changelog, git, pipeline, targets, version
from releasekit.errors import PreflightError, ReleaseError, VersionError
from releasekit.workspace import Workspace

__all__ = ["Options", "plan", "state_path"]

RELEASE_DIR = Path("build") / "release"
REQUIRED_TOOLS = ("git", "docker", "helm")


@dataclass(frozen=True)
class Options:
    """What the user asked for on the command line."""

    part: str | None = None
    to: str | None = None
    pre_token: str = "rc"
    dry_run: bool = False
    resume: bool = False
    env: str = "pilot"
    target: str = targets.SANDBOX
    allow_branch: bool = False


def state_path(root: Path) -> Path:
    """The state file of the release in progress (git-ignored)."""
    return root / RELEASE_DIR / "state.json"


def lock_path(root: Path) -> Path:
    """The lock file that keeps two releases apart."""
    return root / RELEASE_DIR / "lock"


def next_version(ws: Workspace, opts: Options, current: str) -> tuple[str, str | None, str]:
    """(next version, last release tag, how it was chosen)."""
    last = changelog.since_ref(ws)
    if opts.to or opts.part:
        new = version.bump_version(current, opts.part, opts.to, opts.pre_token)
        how = f"--to {opts.to}" if opts.to else f"--part {opts.part}"
    else:
        commits = changelog.collect(ws.root, last)
        level = changelog.level(commits)
        if level is None:
            raise VersionError(
                f"No feat, fix or breaking commit since {last or 'the first commit'}: nothing "
                "calls for a release. Pass --part or --to to release anyway."
            )
        new = version.bump_version(current, level, None)
        how = f"{level} bump from {len(commits)} conventional commits since {last or 'start'}"
    if last is not None:
        released = last.rsplit("v", 1)[-1]
        if version.parse(new) <= version.parse(released):
            raise VersionError(
                f"Version `{new}` is not higher than the last release `{released}` (tag {last}). "
                "Pass a higher --to, or a larger --part."
            )
    return new, last, how


def check_tag(root: Path, tag: str, remote: str | None) -> None:
    """A release tag that already exists at another commit is a hard failure."""
    head = git.head(root)
    for where, commit in (
        ("locally", git.tag_commit(root, tag)),
        (f"on {remote}", git.remote_tag_commit(root, remote, tag) if remote else None),
    ):
        if commit is not None and commit != head:
            raise PreflightError(
                f"Tag {tag} already exists {where} at commit {commit[:12]}, not at HEAD "
                f"{head[:12]}. A released version is never moved: release a higher version."
            )


def dist_dir(root: Path, version_: str) -> Path:
    """Where every artifact of ``version_`` is written."""
    return root / "dist" / version_


def tools_present() -> None:
    """Preflight: every tool the release drives is installed."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise PreflightError(
            f"Missing tools: {', '.join(missing)}. Run `scripts/setup.sh` as root, or see "
            "`invoke doctor` for how to install each."
        )


def ensure(condition: bool, message: str) -> None:
    """Raise ReleaseError(message) unless ``condition``."""
    if not condition:
        raise ReleaseError(message)


def plan(ws: Workspace, opts: Options) -> list[pipeline.Step]:
    """The ordered steps of a release; filled in by ``releasekit.release_steps``."""
    from releasekit import release_steps

    return release_steps.steps(ws, opts)


def context_for(ws: Workspace, opts: Options) -> dict[str, Any]:
    """The shared context every step reads and extends."""
    return {"ws": ws, "opts": opts, "root": ws.root}
