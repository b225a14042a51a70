"""Versions: semver parsing and bumping, and every version site read, checked and written.

A *version site* is one place in one file that holds a package's version: the package's
``[project].version``, its ``__version__``, the pins other packages hold on it, and the
extra sites release.toml declares (chart ``version``/``appVersion``, image tags in values
and compose files, tfvars), and each package's entry in the workspace lock (``uv.lock``),
so a bump leaves the lock as fresh as ``uv lock --check`` requires without resolving
anything again (no index, no cache). This is the only module that writes version strings.

A release version is semver (``1.2.0-rc.1``): tags, images, charts and ``__version__`` hold
it as is. Python's own sites, ``[project].version`` and the pins between packages, hold its
PEP 440 form (``1.2.0rc1``), which is what wheel and sdist file names and the index use:
``python_version`` gives it and ``semver_of_python`` reads it back. A pre-release therefore
takes one of the tokens PEP 440 can express (``PRE_TOKENS``: dev, alpha, beta, rc) followed
by one number; any other is refused when the version is chosen.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import semver

from releasekit.core.errors import VersionError
from releasekit.core.version_sites import CHART_VERSION, Form, Found, Site, read, rel, sites
from releasekit.core.workspace import Workspace

__all__ = [
    "PARTS",
    "PRE_TOKENS",
    "Bump",
    "Found",
    "Site",
    "apply",
    "bump_version",
    "check",
    "current",
    "parse",
    "plan_bump",
    "python_version",
    "read",
    "semver_of_python",
    "sites",
]

Part = Literal["major", "minor", "patch", "prerelease", "release"]
PARTS: tuple[str, ...] = get_args(Part)
PRE_TOKENS: dict[str, str] = {"dev": ".dev", "alpha": "a", "beta": "b", "rc": "rc"}
"""Pre-release token -> its PEP 440 spelling (``1.2.0-dev.1`` is ``1.2.0.dev1`` for Python)."""
_TOKEN_OF = {"dev": "dev", "a": "alpha", "b": "beta", "rc": "rc"}
_TOKENS_HINT = (
    "Use a pre-release token PEP 440 can express: --pre-token dev, alpha, beta or rc, "
    "numbered (1.2.0-dev.1, 1.2.0-alpha.1, 1.2.0-beta.1, 1.2.0-rc.1)."
)


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


def python_version(value: str, where: str = "") -> str:
    """The PEP 440 form of semver ``value``: ``1.2.0-dev.1`` -> ``1.2.0.dev1``, ``-rc.1`` -> ``rc1``

    VersionError naming the value when its pre-release is not ``<token>.<number>`` with a
    token of ``PRE_TOKENS``.
    """
    parsed = parse(value, where)
    base = f"{parsed.major}.{parsed.minor}.{parsed.patch}"
    if not parsed.prerelease:
        return base
    token, _, number = parsed.prerelease.partition(".")
    if token not in PRE_TOKENS or not number.isdigit():
        place = f" in {where}" if where else ""
        raise VersionError(
            f"Version `{value}`{place} has the pre-release `{parsed.prerelease}`, which Python "
            f"packages cannot carry (PEP 440 knows dev, a, b and rc). {_TOKENS_HINT}"
        )
    return f"{base}{PRE_TOKENS[token]}{int(number)}"


def semver_of_python(value: str, where: str = "") -> str:
    """The semver release version whose PEP 440 form is ``value`` (``1.2.0rc1`` -> ``1.2.0-rc.1``).

    The inverse of ``python_version``: VersionError for anything it cannot give (an epoch, a
    post or local release, other than three release numbers, a pre-release with a dev part).
    """
    from packaging.version import InvalidVersion, Version

    place = f" in {where}" if where else ""
    try:
        parsed = Version(value)
    except InvalidVersion:
        parsed = None
    if (
        parsed is None
        or parsed.epoch
        or parsed.post is not None
        or parsed.local is not None
        or len(parsed.release) != 3
        or (parsed.pre is not None and parsed.dev is not None)
    ):
        raise VersionError(
            f"Version `{value}`{place} is not a release version the toolkit writes: use "
            "MAJOR.MINOR.PATCH with an optional pre-release, for example 1.2.0, 1.2.0.dev1 or "
            "1.2.0rc1 (Python's form of 1.2.0-rc.1)."
        )
    base = ".".join(str(n) for n in parsed.release)
    if parsed.dev is not None:
        return f"{base}-dev.{parsed.dev}"
    if parsed.pre is not None:
        return f"{base}-{_TOKEN_OF[parsed.pre[0]]}.{parsed.pre[1]}"
    return base


def _form(value: str, form: Form) -> str:
    """``value`` (semver) as a site of ``form`` holds it."""
    return python_version(value) if form == "python" else value


def _semver(ws: Workspace, found: Found) -> str:
    """The release version ``found`` holds, in semver (Python sites read back from PEP 440)."""
    where = f"{rel(ws, found.site.file)}:{found.line}"
    if found.site.form == "python":
        return semver_of_python(found.value, where)
    parse(found.value, where)
    return found.value


def current(ws: Workspace) -> dict[str, str]:
    """Each package's version (semver) as its own ``[project].version`` states it."""
    return {f.site.package: _semver(ws, f) for f in read(ws) if f.site.kind == "pyproject"}


def _expected(ws: Workspace, found: list[Found], values: list[str]) -> dict[str, str]:
    own = {
        f.site.package: v for f, v in zip(found, values, strict=True) if f.site.kind == "pyproject"
    }
    if ws.manifest.policy == "independent":
        return own
    counts = Counter(values)
    first = own[ws.packages[0].name]
    release = max(counts, key=lambda v: (counts[v], v == first))
    return dict.fromkeys(own, release)


def check(ws: Workspace) -> dict[str, str]:
    """Verify every site; return each package's version or raise VersionError listing drift.

    Python sites must hold exactly the PEP 440 form of the version (``python_version``).
    """
    found = read(ws)
    expected = _expected(ws, found, [_semver(ws, f) for f in found])
    own = ws.manifest.policy == "independent"  # a chart's `version` is its own there
    drift = [
        (f, _form(expected[f.site.package], f.site.form))
        for f in found
        if f.value != _form(expected[f.site.package], f.site.form)
        and not (own and f.site.kind == CHART_VERSION)
    ]
    if drift:
        lines = [
            f"  {rel(ws, f.site.file)}:{f.line} ({f.site.kind} of {f.site.package}) holds "
            f"{f.value}, expected {want}"
            for f, want in drift
        ]
        what = (
            "the release version" if ws.manifest.policy == "lockstep" else "each package's version"
        )
        fix = (
            "`invoke version.bump --to X.Y.Z` to write one version everywhere."
            if ws.manifest.policy == "lockstep"
            else "`invoke version.bump --package NAME --to X.Y.Z` to write one package's "
            "version to all of its sites."
        )
        raise VersionError(
            f"Version sites disagree with {what} (policy {ws.manifest.policy} in "
            f"{ws.manifest.path}):\n" + "\n".join(lines) + "\nSet those values back, or run " + fix
        )
    return expected


def _pythonic(old: str, new: str) -> str:
    """``new``, once it has a PEP 440 form higher than ``old``'s; VersionError otherwise."""
    from packaging.version import Version

    python_new = python_version(new)
    try:
        python_old = python_version(old)
    except VersionError:
        return new  # an old version without a Python form: nothing to order against
    if Version(python_new) <= Version(python_old):
        raise VersionError(
            f"Version `{new}` is higher than `{old}` as semver, but not for Python: PEP 440 "
            f"orders {python_new} before {python_old} (dev < alpha < beta < rc < release), so "
            "an index and pip would take the old one. Pass a later pre-release token or the "
            "release itself."
        )
    return new


def bump_version(old: str, part: str | None, to: str | None, pre_token: str = "rc") -> str:
    """The next version from ``old``: ``to`` verbatim (checked higher) or bumped by ``part``.

    The new version must have a PEP 440 form higher than the old one's (``python_version``).
    """
    base = parse(old)
    if to is not None:
        new = parse(to, "--to")
        if new <= base:
            raise VersionError(
                f"Version `{to}` is not higher than the current version `{old}`. "
                f"Pass a higher --to, or --part to bump from {old}."
            )
        return _pythonic(old, str(new))
    if part not in PARTS:
        raise VersionError(
            f"Unknown --part `{part}`; allowed values are {', '.join(PARTS)}. "
            "Example: `invoke version.bump --part minor`."
        )
    if part == "prerelease":
        if pre_token not in PRE_TOKENS:
            raise VersionError(
                f"--pre-token `{pre_token}` cannot be released: Python packages carry only "
                f"the pre-releases PEP 440 knows. {_TOKENS_HINT}"
            )
        start = base if base.prerelease else base.bump_patch()
        return _pythonic(old, str(start.bump_prerelease(pre_token)))
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
    if ws.manifest.policy == "lockstep" and to is not None and package is None:
        # --to writes one version everywhere, so sites that drift apart are aligned by it.
        old = max(current(ws).values(), key=parse)
        return [Bump(name, old, bump_version(old, None, to)) for name in ws.order()]
    # Under independent, --to writes the package's version to all of its sites, drift or not.
    versions = current(ws) if to is not None and package is not None else check(ws)
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


def apply(ws: Workspace, bumps: list[Bump], charts: Mapping[Path, str] | None = None) -> list[Path]:
    """Write the planned versions to every site; all files are replaced together or none.

    ``charts`` (Chart.yaml -> version) sets a chart's own ``version`` apart from its
    package's (policy independent: a chart whose pinned image moved).
    """
    own = dict(charts or {})
    new_of = {b.package: b.new for b in bumps}
    by_file: dict[Path, list[Found]] = {}
    for f in read(ws):
        if f.site.package in new_of or (f.site.kind == CHART_VERSION and f.site.file in own):
            by_file.setdefault(f.site.file, []).append(f)
    staged: list[tuple[Path, Path]] = []
    try:
        for path, founds in by_file.items():
            text = path.read_text(encoding="utf-8")
            for f in sorted(founds, key=lambda f: f.start, reverse=True):
                if f.site.kind == CHART_VERSION and f.site.file in own:
                    value = own[f.site.file]
                elif f.site.package in new_of:
                    value = _form(new_of[f.site.package], f.site.form)
                else:
                    continue
                text = text[: f.start] + value + text[f.end :]
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
