"""What a release will do: its options, the next version, the tag rules, and whether HEAD is
already a release commit that only needs finishing.

Nothing here changes the repository or a destination; the steps (release_steps) act.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from releasekit.core import changelog, git, version
from releasekit.core.errors import PreflightError, ReleaseError, ToolError, VersionError
from releasekit.core.run import run
from releasekit.core.workspace import Workspace, sandbox_home
from releasekit.publish import targets

__all__ = [
    "BEFORE_TAG",
    "RELEASE_DIR",
    "Options",
    "Pending",
    "check_pending",
    "check_resume",
    "check_tag",
    "dist_dir",
    "git_remote",
    "last_release",
    "lock_path",
    "moved_remote",
    "next_version",
    "pending_release",
    "release_message",
    "state_path",
    "version_before",
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
    given: frozenset[str] = frozenset({"env", "target"})
    """Which of ``env`` and ``target`` were asked for. A resume takes the others from the
    state file; the command line names only the flags it was given."""
    stop_after: str | None = None
    """Stop after this step, leaving the release unfinished for `--resume` (elsewhere)."""
    packages: tuple[str, ...] = ()
    """Under policy independent: release only these packages (their dependents follow)."""
    remote_cache: bool = True
    """Fetch built artifacts from, and push them to, the shared cache in the target's registry."""
    merge: tuple[str, ...] = ()
    """Shard folders whose artifacts the build step adopts instead of building any."""

    @property
    def publishing(self) -> bool:
        """False when the release stops before its tag: no credential is read or needed."""
        return self.stop_after not in BEFORE_TAG

    def recorded(self) -> dict[str, str]:
        """The options a resume must repeat (kept in the state file)."""
        kept = {"target": self.target, "env": self.env}
        if self.merge:
            kept["merge"] = "\n".join(self.merge)
        return kept

    def resumed(self, recorded: dict[str, str]) -> Options:
        """These options with the target, environment and shard folders not given taken
        from ``recorded``."""
        env = self.env if "env" in self.given else recorded.get("env") or self.env
        target = self.target if "target" in self.given else recorded.get("target") or self.target
        merge = self.merge or tuple(filter(None, str(recorded.get("merge", "")).split("\n")))
        return replace(self, env=env, target=target, merge=merge)


@dataclass(frozen=True)
class Pending:
    """HEAD is the release commit of ``version``: the release only needs finishing."""

    version: str
    commit: str
    since: str | None
    notes: str
    plan: tuple[dict[str, object], ...] = ()
    """Under policy independent: each package the release commit releases."""


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


def last_release(root: Path, remote: str | None, ref: str = "HEAD") -> str | None:
    """The last release tag reachable from ``ref``: a ``v*`` tag that is on ``remote``.

    A local tag the remote lacks (a release that was never pushed) is not a release. With
    no remote to ask (a dry run before the sandbox's first start), every local tag counts.
    """
    local_only: tuple[str, ...] = ()
    if remote:
        try:
            local_only = git.local_only_tags(root, remote)
        except ToolError as exc:
            raise PreflightError(
                f"The git remote `{remote}` does not answer "
                f"({(exc.stderr_tail.strip().splitlines() or ['no output'])[0]}), so the last "
                "release (a tag on the remote) cannot be read. Check the remote and its "
                "credentials, or `git_remote` of the target in release.toml."
            ) from None
    return git.last_tag(root, "v[0-9]*", ref, exclude=local_only)


def git_remote(ws: Workspace, target: str) -> str | None:
    """The git remote of ``target`` as release.toml names it (None: the sandbox has none yet)."""
    if target == targets.SANDBOX:
        path = sandbox_home(ws.root) / "remote.git"
        return str(path) if path.exists() else None
    table = ws.manifest.targets.get(target) or {}
    remote = table.get("git_remote")
    return str(remote) if isinstance(remote, str) and remote else None


def next_version(
    ws: Workspace, opts: Options, current: str, remote: str | None = None
) -> tuple[str, str | None, str]:
    """(next version, last release tag, how it was chosen).

    The last release is read from the tags on ``remote`` (see ``last_release``). From a
    pre-release, conventional commits continue its line with the same token
    (``1.0.0-preview.1`` -> ``1.0.0-preview.2``); ``--part release`` finishes it.
    """
    last = last_release(ws.root, remote)
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


def pending_release(ws: Workspace, current: str, remote: str | None = None) -> Pending | None:
    """The release HEAD already is (commit ``chore(release): vX`` and every site at X), if any.

    A release that failed after its commit (or its tag) was made is finished from here on
    any machine, with no state file: the same version, the same bytes, nothing burned.
    """
    if git.commit_subject(ws.root) != release_message(current):
        return None
    head = git.head(ws.root)
    since = last_release(ws.root, remote, f"{head}^")
    stamp = run(
        ["git", "-C", str(ws.root), "log", "-1", "--format=%ct", head], mutates=False, quiet=True
    ).stdout.strip()
    day = datetime.fromtimestamp(int(stamp or 0), tz=UTC).date()
    parent_range = changelog.collect(ws.root, since)
    commits = [c for c in parent_range if c.sha != head]
    notes = changelog.render(ws, current, commits, today=day)
    return Pending(current, head, since, notes)


def version_before(ws: Workspace, commit: str) -> str:
    """The version the workspace held at the parent of ``commit`` ('' when unknown)."""
    if not ws.packages:
        return ""
    rel = ws.packages[0].pyproject.relative_to(ws.root).as_posix()
    shown = run(
        ["git", "-C", str(ws.root), "show", f"{commit}^:{rel}"],
        check=False, mutates=False, quiet=True,
    )  # fmt: skip
    if shown.returncode != 0:
        return ""
    try:
        return str(tomllib.loads(shown.stdout)["project"]["version"])
    except (tomllib.TOMLDecodeError, KeyError):
        return ""


def check_tag(root: Path, tag: str, remote: str | None) -> None:
    """A release tag that already exists at another commit is a hard failure.

    A local tag the remote lacks was never published: the tag step moves it to HEAD.
    """
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
    local_commit = git.tag_commit(root, tag)
    if remote and remote_commit is None:
        local_commit = None
    for where, commit in (("locally", local_commit), (f"on {remote}", remote_commit)):
        if commit is not None and commit != head:
            raise PreflightError(
                f"Tag {tag} already exists {where} at commit {commit[:12]}, not at HEAD "
                f"{head[:12]}. A released version is never moved: release a higher version."
            )


def check_resume(
    recorded: dict[str, str], opts: Options, state_version: str, path: Path, before: str = ""
) -> None:
    """A resume repeats the target, environment and version of the release it finishes.

    Only what the command line gives explicitly is compared; ``before`` is the version the
    release started from (for ``--part``).
    """
    for key, asked in opts.recorded().items():
        earlier = recorded.get(key)
        if key in opts.given and earlier is not None and earlier != asked:
            raise ReleaseError(
                f"The unfinished release {state_version} in {path} was started with "
                f"--{key} {earlier}, but this resume asks for --{key} {asked}. Resume with "
                f"--{key} {earlier} (or without --{key}); a release goes to one {key}."
            )
    where = f"The unfinished release in {path} is version {state_version}"
    _check_asked(opts, state_version, before, where, "Resume without --to and --part.")


def check_pending(opts: Options, pending: Pending, before: str) -> None:
    """A re-run at the release commit of ``pending`` refuses a --to/--part that disagrees."""
    where = (
        f"HEAD is the release commit of {pending.version} ({pending.commit[:12]}), which is "
        "not finished here"
    )
    _check_asked(
        opts, pending.version, before, where,
        f"Finish {pending.version} first (`invoke release` without --to and --part), then "
        "release the next version.",
    )  # fmt: skip


def _check_asked(opts: Options, pending: str, before: str, where: str, fix: str) -> None:
    """ReleaseError naming both versions when --to or --part asks for another than ``pending``."""
    if opts.to and opts.to != pending:
        raise ReleaseError(f"{where}, but --to {opts.to} asks for version {opts.to}. {fix}")
    if opts.part and before:
        try:
            asked = version.bump_version(before, opts.part, None, opts.pre_token)
        except VersionError as exc:
            raise ReleaseError(f"{where}, but --part {opts.part} is refused: {exc} {fix}") from None
        if asked != pending:
            raise ReleaseError(
                f"{where}, but --part {opts.part} from {before} asks for version {asked}. {fix}"
            )


def moved_remote(what: str, remote: str, branch: str, theirs: str, version_: str) -> str:
    """The dead end of a release whose branch moved on ``remote`` before its push: the two
    ways out. ``what`` says what refused (the push, or preflight of a resume)."""
    return (
        f"{what}: its branch `{branch}` moved to {theirs[:12]} during the release, and the "
        "release commit does not contain that commit. Nothing was published: the release "
        f"commit and the tag v{version_} exist only here. Two ways out: (1) take the remote's "
        "commits into the release: run `invoke release --abort` (it resets the branch to the "
        f"commit before the release commit, deletes the local tag v{version_} and the state "
        f"file), then `git pull --rebase {remote} {branch}`, and `invoke release` again; or "
        f"(2) if those commits must not be on `{branch}`, move `{branch}` of `{remote}` back to "
        "a commit the release commit contains, then run `invoke release --resume`, which "
        "pushes this release as it was built."
    )
