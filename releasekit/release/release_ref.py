"""The release ref of a split release: where the build runners find the release commit.

A split release makes its release commit once (`invoke release --stop-after prepare`),
``push`` puts it on ``refs/heads/<ref>`` of the target's git remote (never on the release
branch, and no tag: nothing is released yet), each build runner checks that ref out and
builds its shard, and the merging runner ``checkout``s it onto the release branch and runs
`invoke release --merge`, whose tag step pushes the commit and its tag atomically.
"""

from __future__ import annotations

import os

from releasekit.core import git
from releasekit.core.errors import ReleaseError
from releasekit.core.run import register_secret, run
from releasekit.core.workspace import Workspace
from releasekit.release.plan import git_remote, release_message

__all__ = ["checkout", "push"]


def _remote(ws: Workspace, target: str) -> str:
    remote = git_remote(ws, target)
    if remote is None:
        raise ReleaseError(
            f"Target `{target}` names no git remote (release.toml `git_remote`, or a running "
            "sandbox): the release ref has nowhere to go."
        )
    table = ws.manifest.targets.get(target) or {}
    variable = str(table.get("git_token_env", ""))
    token = os.environ.get(variable, "") if variable else ""
    if token:
        register_secret(token)
        git.authenticate(ws.root, remote, token)
    return remote


def _check_release_commit(ws: Workspace, commit: str) -> None:
    subject = git.commit_subject(ws.root, commit)
    current = next(iter(_versions(ws).values()))
    if subject != release_message(current):
        raise ReleaseError(
            f"Commit {commit[:12]} is `{subject}`, not the release commit "
            f"`{release_message(current)}`: make it first with `invoke release --stop-after "
            "prepare`."
        )


def _versions(ws: Workspace) -> dict[str, str]:
    from releasekit.core import version

    return version.check(ws)


def push(ws: Workspace, target: str, ref: str) -> str:
    """Push the release commit at HEAD to ``refs/heads/<ref>``; the commit."""
    commit = git.head(ws.root)
    _check_release_commit(ws, commit)
    remote = _remote(ws, target)
    run(
        ["git", "-C", str(ws.root), "push", "--quiet", "--force", remote,
         f"{commit}:refs/heads/{ref}"],
        hint=f"Pushing the release ref {ref} to `{remote}` failed: the token needs write "
        "access to the repository's contents.",
    )  # fmt: skip
    return commit


def checkout(ws: Workspace, target: str, ref: str) -> str:
    """Fetch ``ref`` and check out its release commit on the release branch; the commit."""
    remote = _remote(ws, target)
    root = str(ws.root)
    run(["git", "-C", root, "fetch", "--quiet", remote, f"refs/heads/{ref}"])
    commit = run(["git", "-C", root, "rev-parse", "FETCH_HEAD"], mutates=False, quiet=True)
    sha = commit.stdout.strip()
    run(["git", "-C", root, "checkout", "--quiet", "-B", ws.manifest.branch, sha])
    _check_release_commit(ws, sha)
    return sha
