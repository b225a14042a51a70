"""What a release will do: its options, the next version, the tag rules, and whether HEAD is
already a release commit that only needs finishing.

Nothing here changes the repository or a destination; the steps (release_steps) act.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from releasekit.core import changelog, git, version
from releasekit.core.errors import PreflightError, ReleaseError, ToolError, VersionError
from releasekit.core.run import run
from releasekit.core.workspace import Workspace
from releasekit.publish import targets

__all__ = [
    "BEFORE_TAG",
    "RELEASE_DIR",
    "Options",
    "Pending",
    "check_tag",
    "dist_dir",
    "lock_path",
    "next_version",
    "pending_release",
    "release_message",
    "state_path",
]

RELEASE_DIR = Path("build") / "release"
# The steps before anything leaves the machine: a release stopped after one of them needs
# no credential, and its state and artifacts can be finished on another machine.
BEFORE_TAG = ("preflight", "version", "prepare", "build", "verify")


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
    jobs: int | None = None
    """How many artifacts build at once (None: the number of cores)."""
    verbose: bool = False
    """Stream every build log to the console."""
    stop_after: str | None = None
    """Stop after this step, leaving the release unfinished for `--resume` (elsewhere)."""

    @property
    def publishing(self) -> bool:
        """False when the release stops before its tag: no credential is read or needed."""
        return self.stop_after not in BEFORE_TAG

    def recorded(self) -> dict[str, str]:
        """The options a resume must repeat (kept in the state file)."""
        return {"target": self.target, "env": self.env}


@dataclass(frozen=True)
class Pending:
    """HEAD is the release commit of ``version``: the release only needs finishing."""

    version: str
    commit: str
    since: str | None
    notes: str


def state_path(root: Path) -> Path:
    """The state file of the release in progress (git-ignored)."""
    return root / RELEASE_DIR / "state.json"


def lock_path(root: Path) -> Path:
    """The lock file that keeps two releases apart."""
    return root / RELEASE_DIR / "lock"


def dist_dir(root: Path, version_: str) -> Path:
    """Where every artifact of ``version_`` is written."""
    return root / "dist" / version_


def release_message(new: str) -> str:
    """The subject of the release commit of ``new``."""
    return f"chore(release): v{new}"


def _released(tag: str) -> str:
    return tag.removeprefix("v")


def next_version(ws: Workspace, opts: Options, current: str) -> tuple[str, str | None, str]:
    """(next version, last release tag, how it was chosen).

    From a pre-release, conventional commits continue its line with the same token
    (``1.0.0-preview.1`` -> ``1.0.0-preview.2``); ``--part release`` finishes it.
    """
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
        if version.parse(current).prerelease:
            new = version.bump_version(current, "prerelease", None)
            how = f"next pre-release ({len(commits)} conventional commits since {last or 'start'})"
        else:
            new = version.bump_version(current, level, None)
            how = f"{level} bump from {len(commits)} conventional commits since {last or 'start'}"
    if last is not None:
        released = _released(last)
        if version.parse(new) <= version.parse(released, f"tag {last}"):
            raise VersionError(
                f"Version `{new}` is not higher than the last release `{released}` (tag {last}). "
                "Pass a higher --to, or a larger --part."
            )
    return new, last, how


def pending_release(ws: Workspace, current: str) -> Pending | None:
    """The release HEAD already is (commit ``chore(release): vX`` and every site at X), if any.

    A release that failed after its commit (or its tag) was made is finished from here on
    any machine, with no state file: the same version, the same bytes, nothing burned.
    """
    if git.commit_subject(ws.root) != release_message(current):
        return None
    head = git.head(ws.root)
    since = git.last_tag(ws.root, "v[0-9]*", f"{head}^")
    stamp = run(
        ["git", "-C", str(ws.root), "log", "-1", "--format=%ct", head], mutates=False, quiet=True
    ).stdout.strip()
    day = datetime.fromtimestamp(int(stamp or 0), tz=UTC).date()
    parent_range = changelog.collect(ws.root, since)
    commits = [c for c in parent_range if c.sha != head]
    notes = changelog.render(ws, current, commits, today=day)
    return Pending(current, head, since, notes)


def check_tag(root: Path, tag: str, remote: str | None) -> None:
    """A release tag that already exists at another commit is a hard failure."""
    head = git.head(root)
    remote_commit = None
    if remote:
        try:
            remote_commit = git.remote_tag_commit(root, remote, tag)
        except ToolError as exc:
            raise PreflightError(
                f"The git remote `{remote}` does not answer ({exc.stderr_tail.splitlines()[0]}). "
                "Add it (`git remote add`), or fix `git_remote` of the target in release.toml."
            ) from None
    for where, commit in (("locally", git.tag_commit(root, tag)), (f"on {remote}", remote_commit)):
        if commit is not None and commit != head:
            raise PreflightError(
                f"Tag {tag} already exists {where} at commit {commit[:12]}, not at HEAD "
                f"{head[:12]}. A released version is never moved: release a higher version."
            )


def check_resume(recorded: dict[str, str], opts: Options, state_version: str, path: Path) -> None:
    """A resume repeats the target and environment of the release it finishes."""
    for key, asked in opts.recorded().items():
        before = recorded.get(key)
        if before is not None and before != asked:
            raise ReleaseError(
                f"The unfinished release {state_version} in {path} was started with "
                f"--{key} {before}, but this resume asks for --{key} {asked}. Resume with "
                f"--{key} {before}; a release goes to one {key}."
            )
    if opts.to and state_version and opts.to != state_version:
        raise ReleaseError(
            f"The unfinished release in {path} is version {state_version}, but this resume "
            f"asks for --to {opts.to}. Resume without --to (or with --to {state_version})."
        )
