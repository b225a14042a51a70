"""The checks that run before a release changes anything, and again on every resume.

A release that would fail at a destination fails here instead, before the release commit:
the tree is clean, the branch is the release branch and not behind its remote, a push
would be accepted, the tools are there, the versions agree, and every destination answers
and accepts the target's credentials (a 401 is a preflight failure, not a publish one).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from releasekit.core import git, http, uvlock, version
from releasekit.core.errors import (
    HttpError,
    PreflightError,
    ReleaseError,
    ToolError,
    VersionError,
)
from releasekit.core.run import run
from releasekit.core.workspace import Workspace, sandbox_home
from releasekit.deploy import gitops_env, testbed
from releasekit.publish import charts, targets
from releasekit.publish import index as python_upload
from releasekit.release import independent
from releasekit.release.plan import moved_remote

__all__ = [
    "REQUIRED_TOOLS",
    "check",
    "check_credentials",
    "environment",
    "release_remote",
    "restore_interrupted_prepare",
    "tools_present",
]

REQUIRED_TOOLS = ("git", "docker", "helm")


def tools_present() -> None:
    """Every tool the release drives is installed."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise PreflightError(
            f"Missing tools: {', '.join(missing)}. Run `scripts/setup.sh` as root, or see "
            "`invoke doctor` for how to install each."
        )


def environment(ws: Workspace, name: str) -> dict[str, Any]:
    """The deploy environment of release.toml named by --env (empty for `none`)."""
    if name == "none":
        return {}
    table = ws.manifest.environments.get(name)
    if table is None:
        known = ", ".join([*sorted(ws.manifest.environments), "none"])
        raise PreflightError(
            f"Unknown environment `{name}`: {ws.manifest.path} defines {known}. Pass one of "
            f"those to --env, or add an [environments.{name}] table."
        )
    if table.get("deploy") == gitops_env.GITOPS:  # refused now, not after publishing
        gitops_env.resolve(ws.root, name)
    return table


def restore_interrupted_prepare(ws: Workspace, prepare_done: bool) -> None:
    """On resume, undo a `prepare` killed half-way: only its own files may be dirty.

    Files it wrote are restored from HEAD, whether or not they were already staged, and
    files it created are removed, so the resumed `prepare` starts from a clean tree.
    """
    if prepare_done:
        return
    own = {str(f.site.file.relative_to(ws.root)) for f in version.read(ws)}
    own.add(ws.manifest.changelog)
    own.update(f"{p.spec.path}/CHANGELOG.md" for p in ws.packages)  # policy independent
    dirty = git.dirty_files(ws.root)
    if not dirty or not set(dirty) <= own:
        return
    root = str(ws.root)
    run(["git", "-C", root, "reset", "--quiet", "--", *dirty], quiet=True)
    listed = run(["git", "-C", root, "ls-files", "--", *dirty], mutates=False, quiet=True)
    tracked = listed.stdout.split()
    if tracked:
        run(["git", "-C", root, "checkout", "--", *tracked])
    for new_file in set(dirty) - set(tracked):
        (ws.root / new_file).unlink()


def _sandbox_as_planned(root: Path) -> Any:
    """The running sandbox, or where `sandbox.up` would start it (nothing is started)."""
    try:
        return testbed.status(root)
    except ReleaseError:
        return SimpleNamespace(
            registry_host=f"127.0.0.1:{testbed.REGISTRY_PORT}",
            pypi_url=f"http://127.0.0.1:{testbed.PYPI_PORT}",
            pypi_user=testbed.PYPI_USER,
            pypi_password="",
            git_remote=sandbox_home(root) / "remote.git",
        )


def check(
    ws: Workspace,
    target_name: str,
    env_name: str,
    *,
    readonly: bool,
    releasing: str = "",
    publishing: bool = True,
) -> tuple[str, targets.Target]:
    """Every preflight check; (the one current version, the resolved target).

    ``readonly`` (a dry run) starts nothing, reads no credentials and asks no destination.
    ``publishing=False`` (a release that stops before its tag) starts what a build needs
    but reads no credentials and asks no destination either.
    ``releasing`` is the version of a release being resumed or finished: once its tag is
    on the remote at HEAD, the branch needs no push, so the remote may have moved on.
    """
    git.ensure_clean(ws.root)
    git.ensure_branch(ws.root, ws.manifest.branch, ws.manifest.path)
    tools_present()
    environment(ws, env_name)
    try:
        versions = version.check(ws)
    except VersionError:
        independent.check_lockstep_history(ws, None)  # drift left by independent releases
        raise
    if (ws.root / uvlock.LOCK_FILE).is_file():
        uvlock.check(ws.root)  # the release commit must install with `uv sync --locked`
    state = None
    if target_name == targets.SANDBOX:
        state = _sandbox_as_planned(ws.root) if readonly else testbed.up(ws.root)
    credentials = publishing and not readonly
    target = targets.resolve(ws.manifest, target_name, state, credentials=credentials)
    if target.trusted_publishing and credentials:
        from releasekit.publish.attestations import mint_upload_token

        target = dataclasses.replace(
            target,
            pypi_password=mint_upload_token(target.pypi_url),
            pypi_credentials_from="the upload token trusted publishing minted",
        )
    if credentials:
        if target.kind == "remote":
            targets.check_reachable(target)
        if target.git_token:
            git.authenticate(ws.root, target.git_remote, target.git_token)
        pushed = None
        if releasing:
            pushed = git.remote_tag_commit(ws.root, target.git_remote, f"v{releasing}")
        if pushed is None or pushed != git.head(ws.root):
            _check_remote(ws, target.git_remote, releasing)
        check_credentials(target)
        from releasekit.publish import supply_chain

        if supply_chain.signs(target):
            supply_chain.release_key(ws.root, target)  # a wrong key password stops here
    if ws.manifest.policy == "independent":
        return ", ".join(f"{name} {held}" for name, held in versions.items()), target
    return next(iter(versions.values())), target


def release_remote(target: targets.Target) -> str | None:
    """The git remote whose tags are the releases (None: the sandbox's, not made yet)."""
    if target.kind == "sandbox" and not Path(target.git_remote).exists():
        return None
    return target.git_remote


def _check_remote(ws: Workspace, remote: str, releasing: str) -> None:
    """The branch is not behind ``remote``; for a release already committed, the ways out."""
    branch = ws.manifest.branch
    try:
        git.check_remote(ws.root, remote, branch)
    except PreflightError:
        committed = releasing and git.commit_subject(ws.root) == f"chore(release): v{releasing}"
        theirs = git.remote_branch(ws.root, remote, branch) if committed else None
        if theirs is None or git.is_ancestor(ws.root, theirs):
            raise
        what = f"The release of {releasing} cannot be pushed to `{remote}`"
        raise PreflightError(moved_remote(what, remote, branch, theirs, releasing)) from None


def _registry_answer(target: targets.Target) -> int:
    scheme = "http" if target.plain_http else "https"
    url = f"{scheme}://{target.registry_host}/v2/"
    auth = None
    if target.registry_username:
        auth = http.Auth.basic(target.registry_username, target.registry_password)
    try:
        return http.get(url, auth=auth, timeout=15).status
    except HttpError as exc:
        raise PreflightError(
            f"The image registry of target `{target.name}` does not answer at {url} "
            f"({exc.reason}). Check that it runs, or `registry` in release.toml."
        ) from None


def check_credentials(target: targets.Target) -> None:
    """Log in to the registry and the chart registry and test the index credentials."""
    python_upload.check_credentials(
        target.pypi_url, target.pypi_username, target.pypi_password, target.pypi_credentials_from
    )
    if target.registry_username:
        from releasekit.build.images import connect

        try:
            connect().login(
                username=target.registry_username,
                password=target.registry_password,
                registry=target.registry_host,
                reauth=True,
            )
        except Exception as exc:  # the SDK raises APIError, or requests' own errors
            raise PreflightError(
                f"The image registry {target.registry_host} refused the login of "
                f"`{target.registry_username}` from {target.registry_credentials_from} "
                f"({_first_line(exc)}). Fix the credentials, then run again; nothing was "
                "published."
            ) from None
        try:
            charts.login(target.chart_registry, target.registry_username, target.registry_password)
        except ToolError as exc:
            raise PreflightError(
                f"helm could not log in to the chart registry {target.chart_registry} as "
                f"`{target.registry_username}` ({_first_line(exc)}). Fix the credentials in "
                f"{target.registry_credentials_from}, then run again; nothing was published."
            ) from None
    if _registry_answer(target) == 401 and not target.registry_username:
        raise PreflightError(
            f"The image registry {target.registry_host} of target `{target.name}` asks for "
            "credentials, but the target names none. Set `registry_username_env` and "
            "`registry_password_env` in its [targets] table and export those variables."
        )
    if target.registry_username and _registry_answer(target) in (401, 403):
        raise PreflightError(
            f"The image registry {target.registry_host} refused the credentials from "
            f"{target.registry_credentials_from}. Fix them, then run again."
        )


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
