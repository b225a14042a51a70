"""release.toml: loaded, validated, and turned into frozen dataclasses.

Every error names the file, the key, the value found and what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from releasekit.core.errors import ManifestError
from releasekit.core.policy import DEFAULT_TAG, GroupSpec, parse_groups, parse_tag_pattern

__all__ = [
    "ARTIFACT_KINDS",
    "BASE_ARGS",
    "DEFAULT_PLATFORMS",
    "KNOWN_PLATFORMS",
    "MANIFEST_NAME",
    "GroupSpec",
    "Manifest",
    "PackageSpec",
    "SiteSpec",
    "ThirdPartyImage",
    "load",
]

MANIFEST_NAME = "release.toml"

Policy = Literal["lockstep", "independent"]
ArtifactKind = Literal["sdist", "wheel", "binary", "site", "image"]
SiteKind = Literal["chart", "regex"]
ARTIFACT_KINDS: tuple[str, ...] = get_args(ArtifactKind)
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")

_TOP_KEYS = {
    "release",
    "packages",
    "sites",
    "targets",
    "environments",
    "base_images",
    "third_party",
}
# The Dockerfiles' base-image build arguments; release.toml pins each by digest.
BASE_ARGS = ("PYTHON_BASE", "NGINX_BASE")
_PINNED = re.compile(
    r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[0-9a-f]{64}$"
)
_RELEASE_KEYS = {"policy", "branch", "changelog", "tag", "groups", "platforms"}
KNOWN_PLATFORMS = ("linux/amd64", "linux/arm64")
DEFAULT_PLATFORMS: tuple[str, ...] = ("linux/amd64", "linux/arm64")
_PACKAGE_KEYS = {"name", "path", "dist", "module", "artifacts", "images", "paths"}
_SITE_KEYS = {"package", "file", "kind", "pattern"}
_THIRD_PARTY_KEYS = {"name", "source", "digest", "origin", "local"}
_SOURCE = re.compile(
    r"^(?P<host>[a-z0-9.-]+\.[a-z0-9.-]+|localhost)(:[0-9]+)?/"
    r"(?P<path>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$"
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class PackageSpec:
    """One package of the monorepo as declared in release.toml."""

    name: str
    path: str
    dist: str
    module: str
    artifacts: tuple[str, ...]
    images: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteSpec:
    """A version site outside a package's own pyproject.toml and ``__init__.py``."""

    package: str
    file: str
    kind: SiteKind
    pattern: str = ""


@dataclass(frozen=True)
class ThirdPartyImage:
    """An image a chart runs that the monorepo does not build, pinned by digest.

    ``source`` is the reference it comes from (``docker.io/library/redis:7.2-bookworm``),
    ``digest`` the manifest digest ``source`` named when it was pinned, ``origin`` who
    publishes it and where. ``local`` is the image a sandbox, which cannot pull, pushes into
    its registry in its place.
    """

    name: str
    source: str
    digest: str
    origin: str
    local: str = ""

    @property
    def pinned(self) -> str:
        """``<source repository>@<digest>``: what the release runs, by digest."""
        return f"{self.source.rsplit(':', 1)[0]}@{self.digest}"


@dataclass(frozen=True)
class Manifest:
    """The validated manifest; ``root`` is the folder holding release.toml."""

    path: Path
    root: Path
    policy: Policy
    branch: str
    changelog: str
    packages: tuple[PackageSpec, ...]
    sites: tuple[SiteSpec, ...] = ()
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    base_images: dict[str, str] = field(default_factory=dict)
    third_party: tuple[ThirdPartyImage, ...] = ()
    tag: str = DEFAULT_TAG
    """The tag pattern of a package's release under policy independent."""
    groups: tuple[GroupSpec, ...] = ()
    platforms: tuple[str, ...] = DEFAULT_PLATFORMS

    def package(self, name: str) -> PackageSpec:
        """The package called ``name``; ManifestError lists the known ones otherwise."""
        for pkg in self.packages:
            if pkg.name == name:
                return pkg
        known = ", ".join(p.name for p in self.packages)
        raise ManifestError(
            f"Unknown package `{name}`: {self.path} declares {known}. "
            "Pass one of those names, or add a [[packages]] entry for it."
        )


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, value: object, allowed: str) -> ManifestError:
        return ManifestError(f"{self.path}: `{key}` is {value!r}; {allowed}.")

    def table(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, data, "it must be a table")
        return cast(dict[str, Any], data)

    def keys(self, data: dict[str, Any], key: str, allowed: set[str]) -> None:
        for name in data:
            if name not in allowed:
                where = f"{key}.{name}" if key else name
                raise self.fail(
                    where, data[name], f"`{name}` is not a known key (allowed: {sorted(allowed)})"
                )

    def string(self, data: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if value is None:
            raise ManifestError(f"{self.path}: `{where}.{key}` is missing; it is required.")
        if not isinstance(value, str) or not value:
            raise self.fail(f"{where}.{key}", value, "it must be a non-empty string")
        return value

    def strings(self, data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{where}.{key}", value, "it must be a list of non-empty strings")
        return tuple(value)


def load(path: Path) -> Manifest:
    """Load and validate the manifest at ``path`` (a file, or a folder holding release.toml)."""
    if path.is_dir():
        path = path / MANIFEST_NAME
    path = path.resolve()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(
            f"{path} does not exist. Run from the repository root or pass the manifest path."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path} is not valid TOML: {exc}. Fix the syntax there.") from None
    r = _Reader(path)
    r.keys(raw, "", _TOP_KEYS)
    release = r.table(raw.get("release", {}), "release")
    r.keys(release, "release", _RELEASE_KEYS)
    policy = release.get("policy", "lockstep")
    if policy not in get_args(Policy):
        raise r.fail("release.policy", policy, "allowed values are 'lockstep' and 'independent'")
    branch = r.string(release, "branch", "release", "main")
    changelog = r.string(release, "changelog", "release", "CHANGELOG.md")
    tag = parse_tag_pattern(path, r.string(release, "tag", "release", DEFAULT_TAG))
    platforms = _platforms(r, release)

    packages_raw = raw.get("packages")
    if not isinstance(packages_raw, list) or not packages_raw:
        raise r.fail("packages", packages_raw, "declare at least one [[packages]] table")
    packages = tuple(_package(r, p, i, path.parent) for i, p in enumerate(packages_raw))
    names = [p.name for p in packages]
    for name in names:
        if names.count(name) > 1:
            raise r.fail("packages.name", name, "each package name must be unique")

    sites_raw = raw.get("sites", [])
    if not isinstance(sites_raw, list):
        raise r.fail("sites", sites_raw, "it must be an array of [[sites]] tables")
    sites = tuple(_site(r, s, i, set(names)) for i, s in enumerate(sites_raw))

    third_party = _third_party(r, raw.get("third_party", []), packages)
    groups = parse_groups(path, release.get("groups", []), names)

    targets = r.table(raw.get("targets", {}), "targets")
    environments = r.table(raw.get("environments", {}), "environments")
    for where, group in (("targets", targets), ("environments", environments)):
        for name, value in group.items():
            r.table(value, f"{where}.{name}")
    return Manifest(
        path=path,
        root=path.parent,
        policy=cast(Policy, policy),
        branch=branch,
        changelog=changelog,
        packages=packages,
        sites=sites,
        targets=targets,
        environments=environments,
        base_images=_base_images(r, raw),
        third_party=third_party,
        tag=tag,
        groups=groups,
        platforms=platforms,
    )


def _platforms(r: _Reader, release: dict[str, Any]) -> tuple[str, ...]:
    """``release.platforms``: the image platforms, ``os/arch`` each, none twice."""
    if "platforms" not in release:
        return DEFAULT_PLATFORMS
    value = release["platforms"]
    allowed = f"it must be a non-empty list of platforms among {list(KNOWN_PLATFORMS)}"
    if not isinstance(value, list) or not value:
        raise r.fail("release.platforms", value, allowed)
    for item in value:
        if item not in KNOWN_PLATFORMS or value.count(item) > 1:
            raise r.fail("release.platforms", value, f"{item!r} is unknown or repeated; {allowed}")
    return tuple(value)


def _base_images(r: _Reader, raw: dict[str, Any]) -> dict[str, str]:
    """``[base_images]``: each base-image build argument pinned by digest."""
    table = r.table(raw.get("base_images", {}), "base_images")
    r.keys(table, "base_images", set(BASE_ARGS))
    for key, value in table.items():
        if not isinstance(value, str) or not _PINNED.match(value):
            raise r.fail(
                f"base_images.{key}",
                value,
                "pin it by digest as NAME[:TAG]@sha256:<64 hex digits> (for example "
                "python:3.11-slim-bookworm@sha256:...); `docker buildx imagetools inspect "
                "NAME:TAG` prints the digest of a tag",
            )
    return dict(table)


def _package(r: _Reader, data: Any, index: int, root: Path) -> PackageSpec:
    where = f"packages[{index}]"
    table = r.table(data, where)
    r.keys(table, where, _PACKAGE_KEYS)
    name = r.string(table, "name", where)
    if not _NAME.match(name):
        raise r.fail(f"{where}.name", name, "use lowercase letters, digits and dashes")
    pkg_path = r.string(table, "path", where)
    if not (root / pkg_path / "pyproject.toml").is_file():
        raise r.fail(
            f"{where}.path",
            pkg_path,
            "it must be a folder holding a pyproject.toml (relative to the manifest)",
        )
    artifacts = r.strings(table, "artifacts", where)
    for artifact in artifacts:
        if artifact not in ARTIFACT_KINDS:
            raise r.fail(
                f"{where}.artifacts", artifact, f"allowed values are {list(ARTIFACT_KINDS)}"
            )
    images = r.strings(table, "images", where)
    if ("image" in artifacts) != bool(images):
        raise r.fail(
            f"{where}.images",
            list(images),
            "list the image names exactly when artifacts has 'image'",
        )
    return PackageSpec(
        name=name,
        path=pkg_path,
        dist=r.string(table, "dist", where),
        module=r.string(table, "module", where),
        artifacts=artifacts,
        images=images,
        paths=r.strings(table, "paths", where),
    )


def _site(r: _Reader, data: Any, index: int, names: set[str]) -> SiteSpec:
    where = f"sites[{index}]"
    table = r.table(data, where)
    r.keys(table, where, _SITE_KEYS)
    package = r.string(table, "package", where)
    if package not in names:
        raise r.fail(f"{where}.package", package, f"allowed values are {sorted(names)}")
    kind = r.string(table, "kind", where)
    if kind not in get_args(SiteKind):
        raise r.fail(f"{where}.kind", kind, f"allowed values are {list(get_args(SiteKind))}")
    pattern = table.get("pattern", "")
    if kind == "regex":
        pattern = r.string(table, "pattern", where)
        try:
            compiled = re.compile(pattern, re.MULTILINE)
        except re.error as exc:
            raise r.fail(f"{where}.pattern", pattern, f"it is not a valid regex ({exc})") from None
        if "version" not in compiled.groupindex:
            raise r.fail(f"{where}.pattern", pattern, "it needs a named group (?P<version>...)")
    return SiteSpec(
        package=package,
        file=r.string(table, "file", where),
        kind=cast(SiteKind, kind),
        pattern=pattern,
    )


def _third_party(
    r: _Reader, data: Any, packages: tuple[PackageSpec, ...]
) -> tuple[ThirdPartyImage, ...]:
    if not isinstance(data, list):
        raise r.fail("third_party", data, "it must be an array of [[third_party]] tables")
    ours = {image for pkg in packages for image in pkg.images}
    found: list[ThirdPartyImage] = []
    for index, item in enumerate(data):
        where = f"third_party[{index}]"
        table = r.table(item, where)
        r.keys(table, where, _THIRD_PARTY_KEYS)
        name = r.string(table, "name", where)
        if not _NAME.match(name):
            raise r.fail(f"{where}.name", name, "use lowercase letters, digits and dashes")
        if name in ours or name in {t.name for t in found}:
            raise r.fail(
                f"{where}.name", name, "it names another image already; each name must be unique"
            )
        source = r.string(table, "source", where)
        if not _SOURCE.match(source):
            raise r.fail(
                f"{where}.source",
                source,
                "write the full reference with registry host and tag, e.g. "
                "'docker.io/library/redis:7.2-bookworm' (the digest goes in `digest`)",
            )
        digest = r.string(table, "digest", where)
        if not _DIGEST.match(digest):
            raise r.fail(
                f"{where}.digest",
                digest,
                "pin the manifest digest `sha256:` + 64 hex digits (`docker buildx imagetools "
                f"inspect {source}` prints it)",
            )
        origin = r.string(table, "origin", where)
        local = table.get("local", "")
        if local != "":
            local = r.string(table, "local", where)
        found.append(ThirdPartyImage(name, source, digest, origin, local))
    return tuple(found)
