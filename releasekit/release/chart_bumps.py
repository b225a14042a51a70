"""Which charts an independent release publishes, and at which chart version.

A chart (a ``chart`` version site of release.toml) belongs to the package whose site it is:
its ``appVersion`` is that package's version. Its own ``version`` moves when what it
deploys moves: its templates (files of its package, so the package releases) or any image
its ``values.yaml`` pins (an ``image`` block whose ``repository`` names an image of a
package). A chart that pins another package's image is published again, a patch higher,
when that package releases and its own does not. Its new version is the higher of its
package's new version and its own version bumped by a patch, so it never reuses a
published chart version, and equals its package's version while nothing else moves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from releasekit.core import version
from releasekit.core.version_sites import CHART_VERSION
from releasekit.core.workspace import Workspace

__all__ = ["ChartBump", "chart_bumps", "chart_versions_of", "pinned_images", "releasing_charts"]


@dataclass(frozen=True)
class ChartBump:
    """One chart an independent release publishes."""

    chart: str
    file: Path
    """Its Chart.yaml, absolute."""
    package: str
    old: str
    new: str
    app_version: str
    reasons: tuple[str, ...]

    def line(self) -> str:
        return (
            f"chart {self.chart} {self.old} -> {self.new} (appVersion {self.app_version} of "
            f"{self.package}): {'; '.join(self.reasons)}"
        )


def _repositories(values: Any) -> list[str]:
    """The ``repository`` of every ``image`` block of a values tree, in file order."""
    found: list[str] = []
    if isinstance(values, dict):
        for key, value in values.items():
            if key == "image" and isinstance(value, dict):
                repository = value.get("repository")
                if isinstance(repository, str):
                    found.append(repository)
            found += _repositories(value)
    elif isinstance(values, list):
        for item in values:
            found += _repositories(item)
    return found


def pinned_images(chart_dir: Path) -> list[str]:
    """The images a chart's values.yaml pins: the last path part of each image repository."""
    values = chart_dir / "values.yaml"
    if not values.is_file():
        return []
    tree = yaml.safe_load(values.read_text(encoding="utf-8"))
    return list(dict.fromkeys(r.rsplit("/", 1)[-1] for r in _repositories(tree)))


def releasing_charts(ws: Workspace, released: Mapping[str, str]) -> dict[Path, list[str]]:
    """Chart.yaml -> why it is published, for every chart a release of ``released``
    (package -> new version) moves: its package releases, or an image it pins does."""
    owner = {image: pkg.name for pkg in ws.packages for image in pkg.spec.images}
    moving: dict[Path, list[str]] = {}
    for site in ws.manifest.sites:
        if site.kind != "chart":
            continue
        file = ws.root / site.file
        why = []
        if site.package in released:
            why.append(f"{site.package} {released[site.package]}")
        for image in pinned_images(file.parent):
            other = owner.get(image)
            if other is not None and other != site.package and other in released:
                why.append(f"pinned image {image} of {other} {released[other]}")
        if why:
            moving[file] = why
    return moving


def chart_bumps(ws: Workspace, released: Mapping[str, str]) -> list[ChartBump]:
    """The charts a release of ``released`` (package -> new version) publishes, from the
    versions the tree holds before the release writes any."""
    moving = releasing_charts(ws, released)
    current = {f.site.file: f.value for f in version.read(ws) if f.site.kind == CHART_VERSION}
    packages = version.current(ws)
    bumps = []
    for site in ws.manifest.sites:
        file = ws.root / site.file
        if site.kind != "chart" or file not in moving:
            continue
        old = current[file]
        new = version.bump_version(old, "patch", None)
        if site.package in released:
            new = max(new, released[site.package], key=version.parse)
        app = released.get(site.package, packages[site.package])
        bumps.append(
            ChartBump(file.parent.name, file, site.package, old, new, app, tuple(moving[file]))
        )
    return bumps


def chart_versions_of(ws: Workspace, bumps: list[version.Bump]) -> dict[Path, str]:
    """Chart.yaml -> its new ``version`` for ``bumps`` written by hand (`version.bump`).

    Under policy independent a chart moves by the same rule as in a release, so a bump never
    lowers or reuses a chart's version; under lockstep every chart follows the one version
    (empty: ``version.apply`` writes it with its package).
    """
    if ws.manifest.policy != "independent":
        return {}
    return {b.file: b.new for b in chart_bumps(ws, {b.package: b.new for b in bumps})}
