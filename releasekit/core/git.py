"""Git: clean-tree and branch checks, history, tags and pushes, all through ``run``.

git is the one tool that receives the remote's credentials: the auth header ``authenticate``
sets (and the ssh agent's socket) go to git calls only, never into the process environment
that other tools inherit.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from releasekit.core.errors import PreflightError, ReleaseError
from releasekit.core.run import register_secret, run

__all__ = [
    "add",
    "add_and_commit",
    "authenticate",
    "changed_files",
    "check_remote",
    "commit",
    "commit_of",
    "commit_subject",
    "commit_time",
    "create_tag",
    "current_branch",
    "delete_tag",
    "dirty_files",
    "ensure_branch",
    "ensure_clean",
    "head",
    "is_ancestor",
    "last_tag",
    "local_only_tags",
    "merge_base",
    "push_atomic",
    "ref_exists",
    "released_versions",
    "remote_branch",
    "remote_tag_commit",
    "remote_versions",
    "reset_keep",
    "short_sha",
    "tag_commit",
    "token_auth_env",
    "toplevel",
]


_auth: dict[str, str] = {}


def _access() -> dict[str, dict[str, str]]:
    """What git calls receive beyond the base environment: the ssh agent's socket and where
    the auth header goes (``env``), and the header itself (``secrets``)."""
    agent = os.environ.get("SSH_AUTH_SOCK")
    header = {k: v for k, v in _auth.items() if k.startswith("GIT_CONFIG_VALUE_")}
    where = {k: v for k, v in _auth.items() if k not in header}
    return {"env": {**where, **({"SSH_AUTH_SOCK": agent} if agent else {})}, "secrets": header}


def _git(root: Path, *args: str, check: bool = True, mutates: bool = False) -> str:
    argv = ["git", "-C", str(root), *args]
    return run(argv, check=check, mutates=mutates, quiet=True, **_access()).stdout


def toplevel(start: Path) -> Path:
    """The root of the work tree holding ``start``."""
    return Path(_git(start, "rev-parse", "--show-toplevel").strip())


def head(root: Path) -> str:
    """The full commit id of HEAD."""
    return _git(root, "rev-parse", "HEAD").strip()


def commit_of(root: Path, ref: str) -> str:
    """The full commit id ``ref`` names."""
    return _git(root, "rev-parse", "--verify", f"{ref}^{{commit}}").strip()


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
        **_access(),
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
    changed = _git(root, "diff", "--name-only", "--no-renames", since).splitlines()
    untracked = _git(root, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted({p for p in [*changed, *untracked] if p})


def merge_base(root: Path, branch: str) -> str:
    """The commit where HEAD and ``branch`` (or its remote-tracking ``origin/<branch>``) meet."""
    for ref in (branch, f"origin/{branch}"):
        if ref_exists(root, ref):
            result = run(
                ["git", "-C", str(root), "merge-base", "HEAD", ref],
                check=False,
                mutates=False,
                quiet=True,
                **_access(),
            )
            if result.returncode == 0:
                return result.stdout.strip()
    raise ReleaseError(
        f"The release branch `{branch}` (release.toml [release].branch) is not in {root}, "
        f"or shares no history with HEAD. Fetch it (`git fetch origin {branch}`) or pass "
        "--since REF."
    )


def last_tag(
    root: Path, pattern: str, ref: str = "HEAD", exclude: tuple[str, ...] = ()
) -> str | None:
    """The most recent tag reachable from ``ref`` that matches the glob ``pattern``.

    Tags named in ``exclude`` are passed over (the next older one counts instead).
    """
    if ref != "HEAD" and not ref_exists(root, ref):
        return None
    skip = [arg for tag in exclude for arg in ("--exclude", tag)]
    argv = ["git", "-C", str(root), "describe", "--tags", "--abbrev=0", "--match", pattern]
    result = run(
        [*argv, *skip, ref],
        check=False,
        mutates=False,
        quiet=True,
        **_access(),
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def tag_commit(root: Path, tag: str) -> str | None:
    """The commit a local tag points at, or None when the tag does not exist."""
    result = run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"],
        check=False,
        mutates=False,
        quiet=True,
        **_access(),
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


def local_only_tags(root: Path, remote: str, pattern: str = "v[0-9]*") -> tuple[str, ...]:
    """Local tags matching ``pattern`` that ``remote`` lacks or holds at another commit.

    Such a tag was never published: it does not count as a release.
    """
    out = _git(root, "for-each-ref", "--format=%(refname:strip=2) %(*objectname) %(objectname)",
               f"refs/tags/{pattern}")  # fmt: skip
    local: dict[str, str] = {}
    for line in out.splitlines():
        name, _, shas = line.partition(" ")
        local[name] = shas.split()[0]
    if not local:
        return ()
    listed = _git(root, "ls-remote", "--tags", remote, f"refs/tags/{pattern}")
    theirs: dict[str, str] = {}
    for line in listed.splitlines():
        sha, _, ref = line.partition("\t")
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            theirs[name.removesuffix("^{}")] = sha
        else:
            theirs.setdefault(name, sha)
    return tuple(sorted(name for name, sha in local.items() if theirs.get(name) != sha))


def delete_tag(root: Path, tag: str) -> None:
    """Delete the local tag ``tag``."""
    _git(root, "tag", "--delete", tag, mutates=True)


def reset_keep(root: Path, ref: str) -> None:
    """Move the branch and the work tree to ``ref``, keeping (or refusing to lose) local edits."""
    _git(root, "reset", "--quiet", "--keep", ref, mutates=True)


def is_ancestor(root: Path, ancestor: str, ref: str = "HEAD") -> bool:
    """Whether commit ``ancestor`` is known here and contained in ``ref``."""
    result = run(
        ["git", "-C", str(root), "merge-base", "--is-ancestor", ancestor, ref],
        check=False,
        mutates=False,
        quiet=True,
    )
    return result.returncode == 0


def create_tag(root: Path, tag: str, message: str) -> None:
    """Create annotated tag ``tag`` at HEAD."""
    _git(root, "tag", "-a", tag, "-m", message, mutates=True)


def add(root: Path, paths: list[str]) -> None:
    """Stage ``paths``."""
    _git(root, "add", "--", *paths, mutates=True)


def commit(root: Path, message: str) -> None:
    """Commit what is staged with ``message``."""
    _git(root, "commit", "-m", message, mutates=True)


def add_and_commit(root: Path, paths: list[str], message: str) -> None:
    """Stage ``paths`` and commit them with ``message``."""
    add(root, paths)
    commit(root, message)


def commit_time(root: Path, ref: str = "HEAD") -> int:
    """The committer time of ``ref`` in seconds since the epoch (its SOURCE_DATE_EPOCH)."""
    return int(_git(root, "log", "-1", "--format=%ct", ref).strip())


def commit_subject(root: Path, ref: str = "HEAD") -> str:
    """The first line of the message of commit ``ref``."""
    return _git(root, "log", "-1", "--format=%s", ref).strip()


def released_versions(root: Path, prefix: str = "v") -> list[str]:
    """Every ``<prefix>X.Y.Z`` tag of the repository, without the prefix (unsorted)."""
    out = _git(root, "tag", "--list", f"{prefix}[0-9]*")
    return [t.removeprefix(prefix) for t in out.split()]


def remote_versions(root: Path, remote: str, prefix: str = "v") -> list[str]:
    """Every ``<prefix>X.Y.Z`` tag on ``remote``, without the prefix (unsorted)."""
    out = _git(root, "ls-remote", "--tags", "--refs", remote, f"refs/tags/{prefix}[0-9]*")
    return [line.rpartition("refs/tags/")[2].removeprefix(prefix) for line in out.splitlines()]


def remote_branch(root: Path, remote: str, branch: str) -> str | None:
    """The commit ``branch`` points at on ``remote``, or None when the remote lacks it."""
    out = _git(root, "ls-remote", "--heads", remote, f"refs/heads/{branch}")
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def check_remote(root: Path, remote: str, branch: str) -> None:
    """Preflight: ``branch`` is not behind ``remote``, and a push of HEAD to it would be taken.

    Fetches the remote branch, refuses when it holds commits HEAD lacks, then asks the
    remote with ``git push --dry-run``. Nothing is changed on the remote.
    """
    try:
        theirs = remote_branch(root, remote, branch)
    except ReleaseError as exc:
        first = (getattr(exc, "stderr_tail", "") or str(exc)).strip().splitlines()
        raise PreflightError(
            f"The git remote `{remote}` does not answer ({first[0] if first else exc}). Check "
            "the network and its credentials, or `git_remote` of the target in release.toml."
        ) from None
    if theirs is not None:
        _git(root, "fetch", "--quiet", remote, f"refs/heads/{branch}", mutates=True)
        merged = run(
            ["git", "-C", str(root), "merge-base", "--is-ancestor", theirs, "HEAD"],
            check=False,
            mutates=False,
            quiet=True,
        )
        if merged.returncode != 0:
            raise PreflightError(
                f"Branch `{branch}` is behind `{remote}`: the remote holds {theirs[:12]}, which "
                f"HEAD {head(root)[:12]} does not contain. Run `git pull --ff-only {remote} "
                f"{branch}` (or rebase), then release again."
            )
    dry = run(
        ["git", "-C", str(root), "push", "--dry-run", "--porcelain", remote,
         f"HEAD:refs/heads/{branch}"],
        check=False,
        mutates=False,
        quiet=True,
        **_access(),
    )  # fmt: skip
    if dry.returncode != 0:
        reason = dry.stderr.strip() or dry.stdout.strip() or f"exit {dry.returncode}"
        raise PreflightError(
            f"`{remote}` would refuse a push of HEAD to `{branch}` "
            f"({reason.splitlines()[-1]}). Fix the cause (permissions, branch protection, a "
            "diverged branch), then release again."
        )


def push_atomic(root: Path, remote: str, commit: str, branch: str, tag: str, *more: str) -> None:
    """Push ``commit`` to ``branch`` and ``tag`` (and ``more`` tags) in one atomic push: all
    land or none."""
    tags = [f"refs/tags/{t}" for t in (tag, *more)]
    _git(
        root, "push", "--atomic", "--quiet", remote,
        f"{commit}:refs/heads/{branch}", *tags, mutates=True,
    )  # fmt: skip


def token_auth_env(root: Path, remote: str, token: str) -> dict[str, str]:
    """Environment that lets git push to the https ``remote`` with ``token``.

    The token goes into an ``http.<url>.extraheader`` given through GIT_CONFIG_* variables:
    never on a command line, never into .git/config. Empty for a remote that is not https.
    """
    url = remote
    if "://" not in remote and not remote.startswith("/"):
        url = _git(root, "remote", "get-url", remote).strip()
    if not url.startswith("https://"):
        return {}
    host = url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    register_secret(basic)
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.https://{host}/.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }


def authenticate(root: Path, remote: str, token: str) -> None:
    """From now on, every git call of this process pushes to ``remote`` with ``token``.

    The header (``token_auth_env``) goes to git calls only; other tools never see it.
    """
    _auth.clear()
    _auth.update(token_auth_env(root, remote, token))
