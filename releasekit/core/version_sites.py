"""Where versions live: every version site of a workspace, found and read.

A site is one place in one file (``pattern``'s ``version`` group, within a TOML
``section``) that holds a package's version, in semver or in its PEP 440 form
(``releasekit.core.version`` explains both and is the one module that writes them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from releasekit.core.errors import ManifestError
from releasekit.core.uvlock import LOCK_FILE
from releasekit.core.workspace import Workspace

__all__ = ["CHART_VERSION", "Form", "Found", "Site", "read", "rel", "sites"]

_V = r"(?P<version>[0-9A-Za-z.+-]+)"
Form = Literal["semver", "python"]
CHART_VERSION = "chart version"
"""The kind of a Chart.yaml `version` site: the chart's own version under policy independent."""


@dataclass(frozen=True)
class Site:
    """Where a version lives: ``pattern``'s ``version`` group in ``file`` (within ``section``)."""

    package: str
    file: Path
    kind: str
    pattern: str
    section: str | None = None
    form: Form = "semver"
    """``python``: the site holds the PEP 440 form of the version (``python_version``)."""


@dataclass(frozen=True)
class Found:
    """One match of a site: the value it holds, its line, and its span in the file."""

    site: Site
    value: str
    line: int
    start: int
    end: int


def sites(ws: Workspace) -> list[Site]:
    """Every version site of every package, in a stable order."""
    result: list[Site] = []
    dist_of = {p.name: p.spec.dist for p in ws.packages}
    for pkg in ws.packages:
        result.append(
            Site(
                pkg.name,
                pkg.pyproject,
                "pyproject",
                rf'(?m)^version\s*=\s*"{_V}"',
                "project",
                "python",
            )
        )
        init = pkg.dir / "src" / pkg.spec.module / "__init__.py"
        result.append(Site(pkg.name, init, "__version__", rf'(?m)^__version__\s*=\s*"{_V}"'))
        for dep in pkg.deps:
            dist = re.escape(dist_of[dep])
            pin = rf'"{dist}\s*=={_V}"'
            result.append(Site(dep, pkg.pyproject, f"pin in {pkg.name}", pin, form="python"))
    lock = ws.root / LOCK_FILE
    if lock.is_file():
        for pkg in ws.packages:
            entry = _lock_entry(pkg.spec.dist)
            result.append(Site(pkg.name, lock, "lock entry", entry, form="python"))
    for spec in ws.manifest.sites:
        path = ws.root / spec.file
        if spec.kind == "chart":
            result.append(Site(spec.package, path, CHART_VERSION, rf"(?m)^version:\s*{_V}\s*$"))
            result.append(
                Site(spec.package, path, "chart appVersion", rf'(?m)^appVersion:\s*"?{_V}"?\s*$')
            )
        else:
            result.append(Site(spec.package, path, "regex", spec.pattern))
    return result


def _lock_entry(dist: str) -> str:
    """The ``version`` line of ``dist``'s own entry in uv.lock (a workspace member)."""
    name = re.escape(re.sub(r"[-_.]+", "-", dist).lower())
    return rf'(?m)^name = "{name}"\nversion = "{_V}"\nsource = \{{ (?:editable|virtual) = '


def _section_bounds(text: str, section: str | None) -> tuple[int, int]:
    if section is None:
        return 0, len(text)
    header = re.search(rf"(?m)^\[{re.escape(section)}\]\s*$", text)
    if header is None:
        return 0, 0
    following = re.compile(r"(?m)^\[").search(text, header.end())
    return header.end(), following.start() if following else len(text)


def _find(site: Site, text: str) -> list[Found]:
    start, end = _section_bounds(text, site.section)
    found = []
    for match in re.compile(site.pattern, re.MULTILINE).finditer(text, start, end):
        line = text.count("\n", 0, match.start("version")) + 1
        found.append(
            Found(site, match["version"], line, match.start("version"), match.end("version"))
        )
    return found


def read(ws: Workspace) -> list[Found]:
    """Read every site; ManifestError when a declared site is missing from its file."""
    result: list[Found] = []
    texts: dict[Path, str] = {}
    for site in sites(ws):
        if site.file not in texts:
            try:
                texts[site.file] = site.file.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise ManifestError(
                    f"{rel(ws, site.file)} does not exist but holds the {site.kind} of package "
                    f"`{site.package}`. Restore the file or fix its entry in {ws.manifest.path}."
                ) from None
        matches = _find(site, texts[site.file])
        if not matches:
            raise ManifestError(
                f"{rel(ws, site.file)} holds no {site.kind} of package `{site.package}` "
                f"(pattern {site.pattern!r}). Restore the line or fix the site in "
                f"{ws.manifest.path}."
            )
        result.extend(matches)
    return result


def rel(ws: Workspace, path: Path) -> str:
    try:
        return str(path.relative_to(ws.root))
    except ValueError:
        return str(path)
