"""What an independent release keeps: the images of the packages it does not release.

A deploy always runs a complete set. Under policy independent a release pushes only the
images of the packages it releases; every other package's image stays at its last release
(the newest tag of that package on the git remote, else the last lockstep ``v*`` tag), and
its digest is read from the target's registry, where that release pushed it. images.json
lists both, so the helm pins, the pilot and terraform deploy every image by digest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from releasekit.build.images import connect, specs
from releasekit.core import git, version
from releasekit.core.artifact import Artifact
from releasekit.core.errors import PreflightError, PublishError
from releasekit.core.version_sites import CHART_VERSION
from releasekit.core.workspace import Workspace
from releasekit.publish.registry import remote_digest, split_registry
from releasekit.release.chart_bumps import releasing_charts
from releasekit.release.independent import last_package_release

__all__ = [
    "KEPT",
    "app_versions",
    "chart_versions",
    "kept_images",
    "recorded_chart_versions",
    "released_versions",
]

KEPT = "kept"
"""The status of an image an independent release kept from an earlier release."""


def released_versions(ws: Workspace, remote: str, package: str) -> list[str]:
    """Every version of ``package`` released under its own tag on ``remote`` (unsorted)."""
    prefix, _, suffix = ws.manifest.tag.replace("{package}", package).partition("{version}")
    if suffix:
        return []  # tags_for only needs them for its moving tags; a suffix pattern has none
    return git.remote_versions(ws.root, remote, prefix)


def chart_versions(ws: Workspace, remote: str, released: Mapping[str, str]) -> dict[str, str]:
    """Chart name -> the chart version a deploy of this release installs.

    Its Chart.yaml's ``version`` once the release is prepared: the release commit wrote the
    new version of every chart it publishes (``release.chart_bumps``), and every other chart
    holds the version its last release published. A chart this release does not publish and
    whose package was never released is left out.
    """
    moving = releasing_charts(ws, released)
    apps = app_versions(ws, remote, released)
    return {
        f.site.file.parent.name: f.value
        for f in version.read(ws)
        if f.site.kind == CHART_VERSION
        and (f.site.file in moving or f.site.file.parent.name in apps)
    }


def recorded_chart_versions(ws: Workspace, release_id: str, remote: str) -> dict[str, str]:
    """Chart name -> version for a deploy of the recorded independent release ``release_id``.

    The released packages come from ``dist/<release id>/release.json`` (``packages``); the
    charts' versions are those of the checked-out release commit (``chart_versions``).
    PreflightError names a missing record.
    """
    path = ws.root / "dist" / release_id / "release.json"
    try:
        packages = json.loads(path.read_text(encoding="utf-8")).get("packages") or {}
    except (OSError, ValueError, AttributeError):
        packages = {}
    if not packages:
        raise PreflightError(
            f"{path} is missing or names no packages, so the chart versions of release "
            f"{release_id} are unknown. Fetch its record first (`invoke release.fetch --tag "
            "<package>-v<version>`) at its release commit, or deploy a version instead."
        )
    released = {str(name): str(entry.get("version")) for name, entry in packages.items()}
    return chart_versions(ws, remote, released)


def app_versions(ws: Workspace, remote: str, released: Mapping[str, str]) -> dict[str, str]:
    """Chart name -> the appVersion a deploy of this release runs it at.

    A chart's appVersion follows the package whose ``chart`` version site it is
    (release.toml): the package's new version when ``released`` (package -> version) holds
    it, else the version of its last release (its own tag, else the last lockstep tag). A
    chart whose package was never released is left out.
    """
    versions = {}
    for site in ws.manifest.sites:
        if site.kind != "chart":
            continue
        chart = Path(site.file).parent.name
        if site.package in released:
            versions[chart] = released[site.package]
            continue
        _, last = last_package_release(ws, site.package, remote)
        if last is not None:
            versions[chart] = last
    return versions


def kept_images(
    ws: Workspace,
    registry: str,
    remote: str,
    released: Iterable[str],
    auth: Mapping[str, str] | None = None,
) -> list[Artifact]:
    """The images of the packages not in ``released``, each at its last release's digest.

    PublishError names an image its last release never pushed to ``registry``.
    """
    moving = set(released)
    host, namespace = split_registry(registry)
    kept = [spec for spec in specs(ws) if spec.package not in moving]
    if not kept:
        return []
    client = connect()
    found = []
    try:
        for spec in kept:
            tag, version = last_package_release(ws, spec.package, remote)
            repository = f"{host}/{namespace}/{spec.name}"
            digest = (
                None
                if version is None
                else remote_digest(client, f"{repository}:{version}", auth, host)
            )
            if digest is None:
                raise PublishError(
                    f"{repository}:{version or '(none)'} is not in the registry {host}: "
                    f"{spec.package} was last released as {tag or '(never)'}, whose image "
                    f"{spec.name} a deploy of this release would run. Release {spec.package} "
                    f"too (`invoke release --package {spec.package} --part patch`), or push "
                    "that image first."
                )
            found.append(
                Artifact(
                    "image",
                    spec.name,
                    package=spec.package,
                    digest=digest,
                    tags=(version,) if version else (),
                    destination=repository,
                    status=KEPT,
                )
            )
    finally:
        client.close()
    return found
