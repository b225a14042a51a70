"""`invoke verify`: check a published release at its target, with the key the caller trusts."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from releasekit.core import git, policy
from releasekit.core import version as versions
from releasekit.core.errors import PreflightError, ToolError
from releasekit.core.workspace import Workspace
from releasekit.deploy import testbed
from releasekit.publish import assets, targets
from releasekit.publish.rows import Row
from releasekit.publish.supply_chain import access, release_record
from releasekit.publish.targets import SANDBOX
from releasekit.publish.trust import trusted_key
from releasekit.publish.verify import verify_release
from releasekit.release.pending import pending_release

__all__ = [
    "Checked",
    "package_release",
    "release_tags",
    "tag_folder",
    "tag_package",
    "tag_release",
    "verify_version",
]


@dataclass(frozen=True)
class Checked:
    """The verdict of `invoke verify`: which release, where, and one row per artifact."""

    version: str
    target: str
    rows: list[Row]


def package_release(
    ws: Workspace, package: str, version: str, say: Callable[[str], None] = lambda _line: None
) -> Path:
    """The folder of the release that released ``package`` at ``version`` (policy independent).

    The release's records name its packages (release.json ``packages``); without a local
    record, the assets of the package's GitHub release (tag ``<package>-v<version>``).
    """
    ws.get(package)
    for path in sorted((ws.root / "dist").glob("*/release.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        entry = (data.get("packages") or {}).get(package) if isinstance(data, dict) else None
        if isinstance(entry, dict) and entry.get("version") == version:
            return path.parent
    tag = policy.package_tag(ws.manifest.tag, package, version)
    if os.environ.get("GITHUB_REPOSITORY"):
        return assets.download(tag, ws.root / "build" / "verify" / tag, say=say)
    raise PreflightError(
        f"No release of {package} {version} is recorded under {ws.root / 'dist'} (no "
        f"release.json names it in `packages`). Pass a version of {package} that was released "
        f"here, or set GITHUB_REPOSITORY (and GH_TOKEN) to read the assets of {tag}."
    )


def release_tags(ws: Workspace) -> list[str]:
    """The package tags of the independent release whose commit is HEAD."""
    found = pending_release(ws, None)
    if found is None:
        raise PreflightError(
            f"HEAD of {ws.root} is not the release commit of an independent release "
            "(`chore(release): <package>-v<version>, ...`), so it names no tags. Check out the "
            "release commit, or pass --tag PACKAGE-vX.Y.Z."
        )
    return [str(entry["tag"]) for entry in found.plan]


def tag_package(ws: Workspace, tag: str) -> tuple[str, str] | None:
    """``(package, version)`` of a package's release tag (``[release].tag``), None for a
    lockstep ``v`` tag."""
    for pkg in ws.order():
        version = policy.version_of_tag(ws.manifest.tag, pkg, tag)
        if version is not None:
            return pkg, version
    return None


def tag_release(ws: Workspace, tag: str) -> str:
    """The version a release tag's record carries: X of a lockstep ``vX`` tag, or the release
    id of the independent release whose commit a package tag points at (from its subject)."""
    if tag_package(ws, tag) is None:
        return tag.removeprefix("v")
    try:
        subject = git.commit_subject(ws.root, f"{tag}^{{commit}}")
    except ToolError:
        raise PreflightError(
            f"The tag {tag} is not in the repository {ws.root}: the release it belongs to is "
            "named by the commit it tags. Fetch the tags (`git fetch --tags`) and run again."
        ) from None
    prefix = "chore(release): "
    tags = subject.removeprefix(prefix).split(", ") if subject.startswith(prefix) else []
    parts = [tag_package(ws, t) for t in tags]
    if tag not in tags or any(p is None for p in parts):
        raise PreflightError(
            f"The commit tagged {tag} ({subject!r}) is not the release commit of an "
            "independent release (`chore(release): <package>-v<version>, ...`). Check the "
            f"tag (`git show {tag}`)."
        )
    return "+".join(f"{p[0]}-{p[1]}" for p in parts if p is not None)


def tag_folder(ws: Workspace, tag: str) -> Path:
    """The release folder a release tag's assets come from: ``dist/<version>/`` of a ``v``
    tag, or (policy independent) the folder of the release that made a package's tag."""
    owned = tag_package(ws, tag)
    if owned is not None:
        return package_release(ws, *owned)
    return ws.root / "dist" / tag.removeprefix("v")


def verify_version(
    ws: Workspace,
    version: str | None,
    target_name: str,
    key: Path | None,
    say: Callable[[str], None] = lambda _line: None,
    package: str | None = None,
) -> Checked:
    """Verify release ``version`` (default: the workspace's) published to ``target_name``.

    With ``package`` (policy independent), the release that released that package at
    ``version`` (default: the package's version in the workspace).
    """
    root = ws.root
    if package is not None:
        wanted = version or versions.check(ws)[ws.get(package).name]
        folder = package_release(ws, package, wanted, say)
        chosen = release_record(folder).version
    else:
        chosen = version or next(iter(versions.check(ws).values()))
        folder = root / "dist" / chosen
    if not (folder / "release.json").is_file() and os.environ.get("GITHUB_REPOSITORY"):
        folder = assets.download(f"v{chosen}", root / "build" / "verify" / chosen, say=say)
    record = release_record(folder)
    state = testbed.running(root) if target_name == SANDBOX else None
    target = targets.resolve(ws.manifest, target_name, state, credentials=False)
    public = trusted_key(root, target, key)
    rows = verify_release(
        record, folder, public, access(target), target.pypi_index, say, version=chosen
    )
    return Checked(chosen, target_name, rows)
