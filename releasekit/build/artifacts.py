"""What every artifact builder shares: the dist folder layout, build time and outcomes.

Artifacts of a release land in ``dist/<version>/``::

    dist/1.4.2/python/   sdists and wheels
    dist/1.4.2/sbom/     CycloneDX SBOMs
    dist/1.4.2/bin/      the standalone binary
    dist/1.4.2/site/     the site tarball
    dist/1.4.2/SHA256SUMS
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from releasekit.core import version as versions
from releasekit.core.errors import VersionError
from releasekit.core.files import file_sha256
from releasekit.core.run import run
from releasekit.core.workspace import Workspace

__all__ = [
    "Outcome",
    "Progress",
    "Status",
    "dist_dir",
    "dist_version",
    "outcome_rows",
    "source_date_epoch",
    "wheel_project",
    "wheels_of",
]

Status = Literal["built", "up to date"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    """One artifact after a build: its cache key, whether it was rebuilt, and its files.

    For an image, ``digest`` is its OCI index, ``platforms`` the (platform, manifest digest)
    pairs in it and ``destination`` the repository it was pushed to by digest.
    ``cached_from`` says where an up-to-date artifact was found: ``local`` (the workspace's
    cache) or ``registry`` (the shared cache).
    """

    key: str
    status: Status
    outputs: tuple[Path, ...]
    digest: str = ""
    destination: str = ""
    platforms: tuple[tuple[str, str], ...] = ()
    cached_from: str = field(default="", kw_only=True)


def dist_version(ws: Workspace, packages: Sequence[str] | None = None) -> str:
    """The version naming ``dist/<version>/``: the one version ``packages`` (default all) share.

    Raises VersionError when version sites drift, or when the selected packages hold
    different versions (``independent`` policy: build them one at a time).
    """
    names = [ws.get(n).name for n in packages] if packages else [p.name for p in ws.packages]
    current = versions.check(ws)
    found = {current[name] for name in names}
    if len(found) != 1:
        shown = ", ".join(f"{name} {current[name]}" for name in names)
        raise VersionError(
            f"The packages to build hold different versions ({shown}) and share one "
            f"dist/<version>/ folder. Build them one at a time with `--package NAME`."
        )
    return found.pop()


def wheel_project(path: Path) -> str:
    """The normalized project name of wheel ``path``, read from its file name (PEP 427)."""
    from packaging.utils import parse_wheel_filename

    return str(parse_wheel_filename(path.name)[0])


def wheels_of(folder: Path, version: str, dists: Iterable[str] | None = None) -> list[Path]:
    """The wheels in ``folder`` of release ``version`` (of ``dists`` only, when given), sorted.

    File names are read with ``packaging`` and compared by PEP 440 version and normalized
    name, so ``ironcage_cli-1.2.0rc1-py3-none-any.whl`` is found for ``1.2.0-rc.1``.
    """
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
    from packaging.version import Version

    wanted = Version(versions.python_version(version))
    names = None if dists is None else {canonicalize_name(d) for d in dists}
    found = []
    for path in sorted(folder.glob("*.whl")) if folder.is_dir() else []:
        try:
            name, built, _, _ = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if built == wanted and (names is None or name in names):
            found.append(path)
    return found


def dist_dir(ws: Workspace, version: str) -> Path:
    """``<root>/dist/<version>``."""
    return ws.root / "dist" / version


def source_date_epoch(root: Path) -> str:
    """The commit time of HEAD (seconds since the epoch), the timestamp of every archive entry."""
    out = run(
        ["git", "-C", str(root), "log", "-1", "--format=%ct"],
        mutates=False,
        quiet=True,
        hint="Reproducible builds take their timestamp from the last commit; commit first.",
    ).stdout.strip()
    if not out.isdigit():
        raise VersionError(
            f"`git log -1 --format=%ct` in {root} printed {out!r}, not a timestamp. "
            "Make at least one commit before building."
        )
    return out


def outcome_rows(root: Path, outcomes: Sequence[Outcome]) -> list[dict[str, object]]:
    """One row per output file (artifact, status, path, size, sha256), for tables and JSON."""
    rows: list[dict[str, object]] = []
    for outcome in outcomes:
        for path in outcome.outputs:
            try:
                shown = path.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                shown = str(path)
            exists = path.is_file()
            rows.append(
                {
                    "artifact": outcome.key,
                    "status": outcome.status,
                    "path": shown,
                    "size": path.stat().st_size if exists else None,
                    "sha256": file_sha256(path) if exists else None,
                }
            )
    return rows
