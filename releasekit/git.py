"""Git: clean-tree and branch checks, history, tags and pushes, all through ``run``."""

from __future__ import annotations

from pathlib import Path

from releasekit.errors import PreflightError, ReleaseError
from releasekit.run import run

__all__ = [
    "add_and_commit",
    "changed_files",
    "create_tag",
    "current_branch",
    "dirty_files",
    "ensure_branch",
    "ensure_clean",
    "head",
    "last_tag",
    "ref_exists",
    "remote_tag_commit",
    "short_sha",
    "tag_commit",
    "toplevel",
]


def _git(root: Path, *args: str, check: bool = True, mutates: bool = False) -> str:
    return run(["git", "-C", str(root), *args], check=check, mutates=mutates, quiet=True).stdout


def toplevel(start: Path) -> Path:
    """The root of the work tree holding ``start``."""
    return Path(_git(start, "rev-parse", "--show-toplevel").strip())


def head(root: Path) -> str:
    """The full commit id of HEAD."""
    return _git(root, "rev-parse", "HEAD").strip()


def short_sha(root: Path, length: int = 7) -> str:
    """The abbreviated commit id of HEAD (``length`` hex digits)."""
    return head(root)[:length]


def ref_exists(root: Path, ref: str) -> bool:
    """Whether ``ref`` names a commit in the repository at ``root``."""
    result = run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        check=False,
        mutates=False,
        quiet=True,
    )
    return result.returncode == 0


def dirty_files(root: Path) -> list[str]:
    """Paths with uncommitted changes, untracked files included (ignored files excluded)."""
    out = _git(root, "status", "--porcelain", "--untracked-files=all")
    return [line[3:] for line in out.splitlines() if line.strip()]


def ensure_clean(root: Path) -> None:
    """Raise PreflightError listing the dirty paths when the work tree is not clean."""
    dirty = dirty_files(root)
    if dirty:
        shown = ", ".join(dirty[:10]) + (" ..." if len(dirty) > 10 else "")
        raise PreflightError(
            f"The work tree at {root} has uncommitted changes ({shown}). "
            "Commit or stash them (`git stash --include-untracked`) and run again."
        )


def current_branch(root: Path) -> str:
    """The checked-out branch name, or ``HEAD`` when detached."""
    return _git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()


def ensure_branch(root: Path, expected: str, manifest: Path) -> None:
    """Raise PreflightError when the checked-out branch is not ``expected``."""
    branch = current_branch(root)
    if branch != expected:
        raise PreflightError(
            f"Releases are made from branch `{expected}` ([release].branch in {manifest}), "
            f"but `{branch}` is checked out. Run `git switch {expected}` and try again."
        )


def changed_files(root: Path, since: str) -> list[str]:
    """Files changed between ``since`` and the work tree, untracked files included."""
    if not ref_exists(root, since):
        raise ReleaseError(
            f"`{since}` is not a commit, branch or tag in {root}. "
            "Pass an existing ref to --since (for example a release tag or `HEAD~1`)."
        )
    changed = _git(root, "diff", "--name-only", since).splitlines()
    untracked = _git(root, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted({p for p in [*changed, *untracked] if p})


def last_tag(root: Path, pattern: str) -> str | None:
    """The most recent tag reachable from HEAD that matches the glob ``pattern``."""
    result = run(
        ["git", "-C", str(root), "describe", "--tags", "--abbrev=0", "--match", pattern],
        check=False,
        mutates=False,
        quiet=True,
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def tag_commit(root: Path, tag: str) -> str | None:
    """The commit a local tag points at, or None when the tag does not exist."""
    result = run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"],
        check=False,
        mutates=False,
        quiet=True,
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def remote_tag_commit(root: Path, remote: str, tag: str) -> str | None:
    """The commit ``tag`` points at on ``remote``, or None when the remote lacks it."""
    out = _git(root, "ls-remote", "--tags", remote, f"refs/tags/{tag}", f"refs/tags/{tag}^{{}}")
    found: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        found[ref] = sha
    return found.get(f"refs/tags/{tag}^{{}}") or found.get(f"refs/tags/{tag}")


def create_tag(root: Path, tag: str, message: str) -> None:
    """Create annotated tag ``tag`` at HEAD."""
    _git(root, "tag", "-a", tag, "-m", message, mutates=True)


def add_and_commit(root: Path, paths: list[str], message: str) -> None:
    """Stage ``paths`` and commit them with ``message``."""
    _git(root, "add", "--", *paths, mutates=True)
    _git(root, "commit", "-m", message, mutates=True)
