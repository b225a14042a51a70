"""Build every artifact of the monorepo into ``dist/<version>/``, skipping what is up to date.

The order is fixed: Python distributions (the wheels the images install from), the
standalone binary, the site tarballs, then the container images, each started and
health-checked; ``SHA256SUMS`` is rewritten last, over whatever ``dist/<version>/`` holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from releasekit.build import artifacts, binary, checksums, images, python as python_dist, site
from releasekit.build.artifacts import Outcome, Progress
from releasekit.core.workspace import Workspace

__all__ = ["KINDS", "Built", "Kind", "build"]

Kind = Literal["python", "binary", "site", "images"]
KINDS: tuple[Kind, ...] = ("python", "binary", "site", "images")


@dataclass(frozen=True)
class Built:
    """The result of a build: the version folder, every artifact, and SHA256SUMS."""

    version: str
    outcomes: tuple[Outcome, ...]
    checksums: Outcome


def _images(
    ws: Workspace,
    version: str,
    packages: Sequence[str] | None,
    force: bool,
    progress: Progress | None,
) -> list[Outcome]:
    """Container images (``releasekit.build.images``); each outcome's file is the image's SBOM.

    Every image is started and health-checked (``images.smoke_image``) before the build
    counts as done, cached or not: what ships is what was seen running.
    """
    results = images.build_images(ws, version, packages=packages, force=force, progress=progress)
    say = progress or (lambda _msg: None)
    for result in results:
        smoked = images.smoke_image(result.name, version)
        say(f"image:{result.name} started: {', '.join(smoked.checks)}")
    return [Outcome(r.key, r.status, r.outputs) for r in results]


def build(
    ws: Workspace,
    kinds: Sequence[Kind] = KINDS,
    *,
    packages: Sequence[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
    jobs: int | None = None,
    verbose: bool = False,
) -> Built:
    """Build the artifacts of ``kinds`` (Python ones of ``packages`` only, when given).

    ``jobs`` (how many artifacts build at once) and ``verbose`` (stream every log) are
    accepted for the callers; this build runs one artifact at a time and streams as it goes.
    """
    del jobs, verbose
    version = artifacts.dist_version(ws, packages)
    outcomes: list[Outcome] = []
    if "python" in kinds:
        outcomes += python_dist.build_all(
            ws, version, packages=packages, force=force, progress=progress
        )
    if "binary" in kinds:
        outcomes += binary.build_all(ws, version, force=force, progress=progress)
    if "site" in kinds:
        outcomes += site.build_all(ws, version, force=force, progress=progress)
    if "images" in kinds:
        outcomes += _images(ws, version, packages, force, progress)
    folder = artifacts.dist_dir(ws, version)
    folder.mkdir(parents=True, exist_ok=True)
    previous = folder / checksums.FILENAME
    before = previous.read_bytes() if previous.is_file() else None
    path = checksums.write(folder)
    status: artifacts.Status = "up to date" if path.read_bytes() == before else "built"
    sums = Outcome(checksums.FILENAME, status, (path,))
    return Built(version=version, outcomes=tuple(outcomes), checksums=sums)
