"""The release policy's own rules: the tag pattern of a package's release and the groups.

Under policy ``independent`` every package is released under its own tag, made from the
pattern ``[release].tag`` of release.toml (default ``{package}-v{version}``:
``sandbox-v1.3.0``). Lockstep releases keep their ``v{version}`` tags; a monorepo that
switches from lockstep to independent starts every package from the last ``v*`` tag.
``[[release.groups]]`` names packages that always release together, at one version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import semver

from releasekit.core.errors import ManifestError, VersionError

__all__ = [
    "DEFAULT_TAG",
    "LOCKSTEP_GLOB",
    "GroupSpec",
    "lockstep_tag",
    "package_tag",
    "parse_groups",
    "parse_tag_pattern",
    "tag_glob",
    "version_of_tag",
]

DEFAULT_TAG = "{package}-v{version}"
"""The tag of one package's release under policy independent (``sandbox-v1.3.0``)."""
LOCKSTEP_GLOB = "v[0-9]*"
"""The tags of lockstep releases (``v1.2.0``), as a glob for ``git describe --match``."""
_FIELD = re.compile(r"\{(?P<field>[^{}]*)\}")
_GROUP_KEYS = {"name", "packages"}


@dataclass(frozen=True)
class GroupSpec:
    """Packages that always release together, at one version (``[[release.groups]]``)."""

    name: str
    packages: tuple[str, ...]


def lockstep_tag(version: str) -> str:
    """The tag of the lockstep release ``version``."""
    return f"v{version}"


def package_tag(pattern: str, package: str, version: str) -> str:
    """The tag of ``package``'s release ``version`` under ``pattern``."""
    return pattern.replace("{package}", package).replace("{version}", version)


def tag_glob(pattern: str, package: str) -> str:
    """A glob (``git describe --match``, ``git tag --list``) for ``package``'s release tags."""
    return package_tag(pattern, package, "[0-9]*")


def version_of_tag(pattern: str, package: str, tag: str) -> str | None:
    """The version a tag of ``package`` names, or None when ``tag`` is not one of its tags."""
    prefix, _, suffix = package_tag(pattern, package, "\0").partition("\0")
    if not tag.startswith(prefix) or not tag.endswith(suffix) or len(tag) <= len(prefix + suffix):
        return None
    value = tag[len(prefix) : len(tag) - len(suffix)]
    try:
        parsed = semver.Version.parse(value)
    except ValueError:
        return None
    if parsed.build:
        raise VersionError(f"Tag {tag} carries build metadata (`+{parsed.build}`); drop it.")
    return value


def parse_tag_pattern(path: Path, pattern: str) -> str:
    """``[release].tag``: names ``{package}`` and ``{version}`` once each and nothing else."""
    fields = [m["field"] for m in _FIELD.finditer(pattern)]
    plain = _FIELD.sub("", pattern)
    if sorted(fields) != ["package", "version"] or "{" in plain or "}" in plain:
        raise ManifestError(
            f"{path}: `release.tag` is {pattern!r}; it must name `{{package}}` and `{{version}}` "
            f"once each and no other field, for example {DEFAULT_TAG!r} (sandbox-v1.3.0)."
        )
    if not re.fullmatch(r"[A-Za-z0-9._/-]*", plain) or not pattern.startswith("{package}"):
        raise ManifestError(
            f"{path}: `release.tag` is {pattern!r}; start it with `{{package}}` and use only "
            "letters, digits, `.`, `_`, `-` and `/` around the fields, so a package's tag never "
            f"reads as a lockstep `v*` tag (for example {DEFAULT_TAG!r})."
        )
    return pattern


def parse_groups(path: Path, data: Any, names: list[str]) -> tuple[GroupSpec, ...]:
    """``[[release.groups]]``: named sets of two or more packages, each package in one."""
    if not isinstance(data, list):
        raise ManifestError(
            f"{path}: `release.groups` is {data!r}; it must be an array of [[release.groups]] "
            "tables, each with `name` and `packages`."
        )
    found: list[GroupSpec] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(data):
        where = f"release.groups[{index}]"
        if not isinstance(item, dict) or set(item) - _GROUP_KEYS:
            raise ManifestError(
                f"{path}: `{where}` is {item!r}; it must be a table with the keys `name` "
                '(a string) and `packages` (a list of package names), e.g. name = "web", '
                'packages = ["control-panel", "marketing-site"].'
            )
        name, members = item.get("name"), item.get("packages")
        if not isinstance(name, str) or not name:
            raise ManifestError(f"{path}: `{where}.name` is {name!r}; give the group a name.")
        if not isinstance(members, list) or len({str(m) for m in members}) < 2:
            raise ManifestError(
                f"{path}: `{where}.packages` is {members!r}; name two or more packages."
            )
        for member in members:
            if member not in names:
                raise ManifestError(
                    f"{path}: `{where}.packages` names {member!r}; allowed values are "
                    f"{sorted(names)}."
                )
            if member in seen:
                raise ManifestError(
                    f"{path}: `{where}.packages` names {member!r}, which is in group "
                    f"`{seen[member]}` already; a package belongs to one group."
                )
            seen[member] = name
        found.append(GroupSpec(name, tuple(dict.fromkeys(str(m) for m in members))))
    return tuple(found)
