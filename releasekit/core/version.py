"""Versions: semver parsing and bumping, and every version site read, checked and written.

A *version site* is one place in one file that holds a package's version: the package's
``[project].version``, its ``__version__``, the pins other packages hold on it, and the
extra sites release.toml declares (chart ``version``/``appVersion``, image tags in values
and compose files, tfvars), and each package's entry in the workspace lock (``uv.lock``),
so a bump leaves the lock as fresh as ``uv lock --check`` requires without resolving
anything again (no index, no cache). This is the only module that writes version strings.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import packaging.version
import semver

from releasekit.core.errors import ManifestError, VersionError
from releasekit.core.uvlock import LOCK_FILE
from releasekit.core.workspace import Workspace

__all__ = [
    "PARTS",
    "Bump",
    "Found",
    "Site",
    "apply",
    "bump_version",
    "check",
    "current",
    "parse",
    "plan_bump",
    "read",
    "sites",
    "written",
]

Part = Literal["major", "minor", "patch", "prerelease", "release"]
PARTS: tuple[str, ...] = get_args(Part)
_V = r"(?P<version>[0-9A-Za-z.+-]+)"


@dataclass(frozen=True)
class Site:
    """Where a version lives: ``pattern``'s ``version`` group in ``file`` (within ``section``)."""

    package: str
    file: Path
    kind: str
    pattern: str
    section: str | None = None
    form: Literal["semver", "pep440"] = "semver"


@dataclass(frozen=True)
class Found:
    """One match of a site: the value it holds, its line, and its span in the file."""

    site: Site
    value: str
    line: int
    start: int
    end: int


@dataclass(frozen=True)
class Bump:
    """A planned version change of one package."""

    package: str
    old: str
    new: str


def parse(value: str, where: str = "") -> semver.Version:
    """Parse a semver string; VersionError names ``where`` and the value otherwise."""
    try:
        version = semver.Version.parse(value)
    except (ValueError, TypeError):
        place = f" in {where}" if where else ""
        raise VersionError(
            f"Version `{value}`{place} is not a valid semantic version. Use MAJOR.MINOR.PATCH "
            "with an optional pre-release, for example 1.2.0 or 1.2.0-rc.1."
        ) from None
    if version.build:
        raise VersionError(
            f"Version `{value}`{' in ' + where if where else ''} carries build metadata "
            f"(`+{version.build}`), which image tags cannot hold. Drop the `+...` part."
        )
    return version


def sites(ws: Workspace) -> list[Site]:
    """Every version site of every package, in a stable order."""
    result: list[Site] = []
    dist_of = {p.name: p.spec.dist for p in ws.packages}
    for pkg in ws.packages:
        result.append(
            Site(pkg.name, pkg.pyproject, "pyproject", rf'(?m)^version\s*=\s*"{_V}"', "project")
        )
        init = pkg.dir / "src" / pkg.spec.module / "__init__.py"
        result.append(Site(pkg.name, init, "__version__", rf'(?m)^__version__\s*=\s*"{_V}"'))
        for dep in pkg.deps:
            dist = re.escape(dist_of[dep])
            result.append(Site(dep, pkg.pyproject, f"pin in {pkg.name}", rf'"{dist}\s*=={_V}"'))
    lock = ws.root / LOCK_FILE
    if lock.is_file():
        for pkg in ws.packages:
            entry = _lock_entry(pkg.spec.dist)
            result.append(Site(pkg.name, lock, "lock entry", entry, form="pep440"))
    for spec in ws.manifest.sites:
        path = ws.root / spec.file
        if spec.kind == "chart":
            result.append(Site(spec.package, path, "chart version", rf"(?m)^version:\s*{_V}\s*$"))
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


def written(site: Site, value: str) -> str:
    """``value`` as ``site`` holds it: uv.lock writes versions in PEP 440's normal form."""
    if site.form == "semver":
        return value
    try:
        return str(packaging.version.Version(value))
    except packaging.version.InvalidVersion:
        return value


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
                    f"{_rel(ws, site.file)} does not exist but holds the {site.kind} of package "
                    f"`{site.package}`. Restore the file or fix its entry in {ws.manifest.path}."
                ) from None
        matches = _find(site, texts[site.file])
        if not matches:
            raise ManifestError(
                f"{_rel(ws, site.file)} holds no {site.kind} of package `{site.package}` "
                f"(pattern {site.pattern!r}). Restore the line or fix the site in "
                f"{ws.manifest.path}."
            )
        result.extend(matches)
    return result


def _rel(ws: Workspace, path: Path) -> str:
    try:
        return str(path.relative_to(ws.root))
    except ValueError:
        return str(path)


def current(ws: Workspace) -> dict[str, str]:
    """Each package's version as its own ``[project].version`` states it."""
    return {f.site.package: f.value for f in read(ws) if f.site.kind == "pyproject"}


def _expected(ws: Workspace, found: list[Found]) -> dict[str, str]:
    own = {f.site.package: f.value for f in found if f.site.kind == "pyproject"}
    if ws.manifest.policy == "independent":
        return own
    counts = Counter(f.value for f in found if f.site.form == "semver")
    first = own[ws.packages[0].name]
    release = max(counts, key=lambda v: (counts[v], v == first))
    return dict.fromkeys(own, release)


def check(ws: Workspace) -> dict[str, str]:
    """Verify every site; return each package's version or raise VersionError listing drift."""
    found = read(ws)
    for f in found:
        if f.site.form == "semver":
            parse(f.value, f"{_rel(ws, f.site.file)}:{f.line}")
    expected = _expected(ws, found)
    drift = [f for f in found if f.value != written(f.site, expected[f.site.package])]
    if drift:
        lines = [
            f"  {_rel(ws, f.site.file)}:{f.line} ({f.site.kind} of {f.site.package}) holds "
            f"{f.value}, expected {written(f.site, expected[f.site.package])}"
            for f in drift
        ]
        what = (
            "the release version" if ws.manifest.policy == "lockstep" else "each package's version"
        )
        raise VersionError(
            f"Version sites disagree with {what} (policy {ws.manifest.policy} in "
            f"{ws.manifest.path}):\n" + "\n".join(lines) + "\nSet those values back, or run "
            "`invoke version.bump --to X.Y.Z` to write one version everywhere."
        )
    return expected


def bump_version(old: str, part: str | None, to: str | None, pre_token: str = "rc") -> str:
    """The next version from ``old``: ``to`` verbatim (checked higher) or bumped by ``part``."""
    base = parse(old)
    if to is not None:
        new = parse(to, "--to")
        if new <= base:
            raise VersionError(
                f"Version `{to}` is not higher than the current version `{old}`. "
                f"Pass a higher --to, or --part to bump from {old}."
            )
        return str(new)
    if part not in PARTS:
        raise VersionError(
            f"Unknown --part `{part}`; allowed values are {', '.join(PARTS)}. "
            "Example: `invoke version.bump --part minor`."
        )
    if part == "prerelease":
        start = base if base.prerelease else base.bump_patch()
        return str(start.bump_prerelease(pre_token))
    if part == "release":
        if not base.prerelease:
            raise VersionError(
                f"Version `{old}` is not a pre-release, so --part release has nothing to finish."
                " Use --part patch, minor or major."
            )
        return str(base.finalize_version())
    if base.prerelease and part == "patch":
        return str(base.finalize_version())
    return str(base.next_version(part))


def plan_bump(
    ws: Workspace,
    part: str | None = None,
    to: str | None = None,
    pre_token: str = "rc",
    package: str | None = None,
) -> list[Bump]:
    """The version changes a bump makes; nothing is written."""
    if (part is None) == (to is None):
        raise VersionError("Pass exactly one of --part or --to (e.g. --part minor or --to 1.2.0).")
    if package is not None:
        ws.get(package)
    versions = check(ws)
    if ws.manifest.policy == "lockstep":
        if package is not None:
            raise VersionError(
                f"--package {package} is only meaningful under policy `independent`, but "
                f"{ws.manifest.path} sets policy `lockstep`, where one version covers every "
                'package. Drop --package, or set [release].policy = "independent".'
            )
        old = next(iter(versions.values()))
        new = bump_version(old, part, to, pre_token)
        return [Bump(name, old, new) for name in ws.order()]
    if package is None:
        raise VersionError(
            f"Policy `independent` in {ws.manifest.path} versions each package on its own: "
            "name the package to bump with --package NAME."
        )
    new = bump_version(versions[package], part, to, pre_token)
    bumps = {package: Bump(package, versions[package], new)}
    for dependent in ws.dependents(package):
        old = versions[dependent]
        bumps[dependent] = Bump(dependent, old, bump_version(old, "patch", None))
    return [bumps[n] for n in ws.order() if n in bumps]


def apply(ws: Workspace, bumps: list[Bump]) -> list[Path]:
    """Write the planned versions to every site; all files are replaced together or none."""
    new_of = {b.package: b.new for b in bumps}
    by_file: dict[Path, list[Found]] = {}
    for f in read(ws):
        if f.site.package in new_of:
            by_file.setdefault(f.site.file, []).append(f)
    staged: list[tuple[Path, Path]] = []
    try:
        for path, founds in by_file.items():
            text = path.read_text(encoding="utf-8")
            for f in sorted(founds, key=lambda f: f.start, reverse=True):
                text = text[: f.start] + written(f.site, new_of[f.site.package]) + text[f.end :]
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, path.stat().st_mode)
            staged.append((Path(tmp), path))
    except BaseException:
        for staged_tmp, _ in staged:
            staged_tmp.unlink(missing_ok=True)
        raise
    for staged_tmp, path in staged:
        os.replace(staged_tmp, path)
    return sorted(by_file)
