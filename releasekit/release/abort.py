"""`invoke release --abort`: undo a release of which nothing was published.

A release publishes nothing before its tag step pushes the release commit and the tag; up
to then everything it did is local: the release commit, the tag, ``dist/<version>/`` and
the state file. ``abort`` undoes exactly those, and refuses once anything is published
(a publishing step recorded as done, or the tag or the release commit on the remote):
a published release is finished, never undone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from releasekit.core import git
from releasekit.core.errors import ReleaseError, ToolError
from releasekit.core.files import write_json
from releasekit.core.workspace import Workspace
from releasekit.publish import targets
from releasekit.release.plan import (
    dist_dir,
    git_remote,
    lock_path,
    pending_release,
    release_message,
    state_path,
)
from releasekit.release.preflight import restore_interrupted_prepare
from releasekit.release.state import PREVIOUS, State, lock

__all__ = ["PUBLISHING", "abort"]

PUBLISHING = (
    "tag",
    "publish-python",
    "publish-images",
    "publish-charts",
    "sign",
    "verify-published",
    "deploy",
    "health",
    "report",
)
"""The steps from which on a release is published (the tag step pushes)."""


def abort(ws: Workspace, say: Callable[[str], None] = print) -> list[str]:
    """Undo the unfinished release recorded in the state file (or committed at HEAD).

    Returns what was undone, one line each. ReleaseError when anything was published, or
    when there is nothing to abort.
    """
    root, path = ws.root, state_path(ws.root)
    with lock(lock_path(root)):
        state = State.load(path)
        if state is not None and state.complete:
            state = None  # the record of a finished release stays as it is
        version, commit, target, plan = _release_of(ws, state, path)
        if state is not None:
            published = [step for step in PUBLISHING if state.done(step)]
            if published:
                raise ReleaseError(
                    f"Release {version} cannot be aborted: {path} records "
                    f"{', '.join(published)} as done, so it is published. A published release "
                    "is finished, never undone: run `invoke release --resume`."
                )
        tags = [str(e["tag"]) for e in plan] if plan else ([f"v{version}"] if version else [])
        message = f"chore(release): {', '.join(tags)}" if plan else release_message(version)
        for tag in tags:
            _refuse_when_pushed(ws, target, tag, commit, version)
        done: list[str] = []
        if state is not None and not state.done("prepare"):
            dirty = git.dirty_files(root)
            restore_interrupted_prepare(ws, False)
            if dirty and not git.dirty_files(root):
                done.append(f"restored {', '.join(dirty)} (a `prepare` stopped half-way)")
        if commit:
            done += _drop_commit(root, commit, version, message)
        for tag in tags:
            if (local := git.tag_commit(root, tag)) is None:
                continue
            if local != commit:
                done.append(
                    f"left the local tag {tag}: it points at {local[:12]}, not at this "
                    "release's commit, so it is not this release's (a stray tag never blocks "
                    f"a release; `git tag -d {tag}` removes it)"
                )
                continue
            git.delete_tag(root, tag)
            done.append(f"deleted the local tag {tag}")
        folder = dist_dir(root, version) if version else None
        if folder is not None and folder.is_dir():
            shutil.rmtree(folder)
            done.append(f"removed {folder.relative_to(root)}/ (built, never published)")
        if state is not None:
            done.append(_drop_state(path, state))
        for line in done:
            say(line)
        return done


def _release_of(
    ws: Workspace, state: State | None, path: Path
) -> tuple[str, str, str, list[dict[str, Any]]]:
    """(version, release commit or '', target name, plan) of the release to abort.

    The plan lists each package an independent release releases, with its tag; it is empty
    under lockstep, whose one tag is ``v<version>``."""
    if state is not None:
        prepare = state.steps.get("prepare", {})
        commit = str(prepare.get("outputs", {}).get("commit", "")) if state.done("prepare") else ""
        target = str(state.data.get("options", {}).get("target", targets.SANDBOX))
        plan = state.steps.get("version", {}).get("outputs", {}).get("plan") or []
        return state.version, commit, target, [dict(e) for e in plan if isinstance(e, dict)]
    if ws.manifest.policy == "independent":
        from releasekit.release import pending as independent_pending

        found = independent_pending.pending_release(ws, git_remote(ws, targets.SANDBOX))
    else:
        from releasekit.core import version as versions

        found = pending_release(ws, next(iter(versions.check(ws).values())))
    if found is None:
        raise ReleaseError(
            f"Nothing to abort: {path} records no unfinished release and HEAD is not a "
            "release commit."
        )
    return found.version, found.commit, targets.SANDBOX, [dict(e) for e in found.plan]


def _refuse_when_pushed(ws: Workspace, target: str, tag: str, commit: str, version: str) -> None:
    """ReleaseError when the tag or the release commit is on the target's remote."""
    remote = git_remote(ws, target)
    if remote is None or not tag:
        return
    table = ws.manifest.targets.get(target) or {}
    token = os.environ.get(str(table.get("git_token_env", "")), "")
    if token:
        os.environ.update(git.token_auth_env(ws.root, remote, token))
    branch = ws.manifest.branch
    try:
        pushed = git.remote_tag_commit(ws.root, remote, tag)
        tip = git.remote_branch(ws.root, remote, branch)
    except ToolError as exc:
        raise ReleaseError(
            f"The git remote `{remote}` does not answer "
            f"({(exc.stderr_tail.strip().splitlines() or ['no output'])[0]}), so whether "
            f"release {version} was pushed cannot be told; nothing was undone. Check the remote "
            "and its credentials, then abort again."
        ) from None
    if pushed is not None:
        raise ReleaseError(
            f"Release {version} cannot be aborted: its tag {tag} is on `{remote}` (at "
            f"{pushed[:12]}), so it is published. A published release is finished, never "
            "undone: run `invoke release --resume` (or `invoke release` at the release commit)."
        )
    if commit and tip is not None and (tip == commit or git.is_ancestor(ws.root, commit, tip)):
        raise ReleaseError(
            f"Release {version} cannot be aborted: its release commit {commit[:12]} is on "
            f"`{branch}` of `{remote}`. Finish it with `invoke release --resume`."
        )


def _drop_commit(root: Path, commit: str, version: str, message: str) -> list[str]:
    """Reset the branch to the commit before the release commit (subject ``message``), when
    HEAD is that commit."""
    head = git.head(root)
    if head == commit and git.commit_subject(root) == message:
        parent = git.commit_of(root, f"{commit}^")
        git.reset_keep(root, parent)
        return [f"reset the branch to {parent[:12]}, the commit before the release commit "
                f"{commit[:12]}"]  # fmt: skip
    if git.is_ancestor(root, commit, head):
        raise ReleaseError(
            f"HEAD {head[:12]} holds commits made on top of the release commit {commit[:12]} "
            f"of {version}; aborting would drop them. Move them off (`git rebase --onto "
            f"{commit[:12]}^ {commit[:12]}`), then abort again."
        )
    return []


def _drop_state(path: Path, state: State) -> str:
    """Remove the state file, or put back the record of the finished release it replaced."""
    previous = state.data.get(PREVIOUS)
    if isinstance(previous, dict):
        write_json(path, previous)
        return f"{path}: back to the record of release {previous.get('version', '')}"
    path.unlink(missing_ok=True)
    return f"removed {path}"
