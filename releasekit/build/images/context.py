"""What an image's Dockerfile copies from ``build/``: its wheelhouse and its rendered site.

A Python image installs from ``build/wheelhouse/<image>/``: one wheel per distribution of
its spec. The wheels come from the Python build when it has them (``given``, or the
published wheels of ``dist/<version>/python/`` whose ``wheel:<package>`` cache entry is
fresh); the others are built here with ``python -m build --wheel`` into
``build/images/wheels/<image>/``. The site image copies ``build/site/<package>/``, rendered
into ``build/images/site/<package>/`` first.

Every image's build context is the repository root, so one image's context upload reads the
folders another image's build writes. ``CONTEXT_LOCK`` orders the two: the staged files move
into ``build/wheelhouse/`` and ``build/site/`` under it, and an upload holds it.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from releasekit.build import python as python_dist
from releasekit.build.artifacts import Progress, wheels_of
from releasekit.build.cache import Cache
from releasekit.build.images.spec import ImageSpec
from releasekit.core.errors import ToolError
from releasekit.core.run import run
from releasekit.core.version import python_version
from releasekit.core.workspace import Workspace

__all__ = ["CONTEXT_LOCK", "published_wheels", "put_in_place", "stage"]

CONTEXT_LOCK = threading.Lock()
_BUILD_WHEEL = (sys.executable, "-m", "build", "--wheel", "--no-isolation")


def published_wheels(ws: Workspace, spec: ImageSpec, version: str, epoch: str) -> dict[str, Path]:
    """The wheels of ``spec.dists`` in ``dist/<version>/python/`` that the Python build made
    from the current inputs (fresh ``wheel:<package>`` entries), by distribution name."""
    cache = Cache(ws.root)
    by_dist = {p.spec.dist: p for p in ws.packages}
    found: dict[str, Path] = {}
    for dist in spec.dists:
        pkg = by_dist[dist]
        if "wheel" not in pkg.spec.artifacts:
            continue
        entry = cache.fresh(f"wheel:{pkg.name}", python_dist.cache_inputs(ws, pkg, version, epoch))
        wheels = [ws.root / o for o in entry.outputs if o.endswith(".whl")] if entry else []
        if wheels:
            found[dist] = wheels[0]
    return found


def _build_wheel(
    ws: Workspace, spec: ImageSpec, dist: str, version: str, epoch: str, dest: Path
) -> Path:
    pkg = next(p for p in ws.packages if p.spec.dist == dist)
    run(
        [*_BUILD_WHEEL, "--outdir", str(dest), str(pkg.dir)],
        env={"SOURCE_DATE_EPOCH": epoch},
        quiet=True,
        hint=f"Building the wheel of {pkg.dir} failed; fix the error above.",
    )
    wheels = wheels_of(dest, version, [dist])
    if not wheels:
        raise ToolError(
            ["python", "-m", "build", "--wheel", str(pkg.dir)],
            0,
            "",
            f"No wheel of {dist} {python_version(version)} was built: does {pkg.pyproject} "
            f"hold version {python_version(version)}? Run `invoke version.check`.",
        )
    return wheels[-1]


def stage(
    ws: Workspace,
    spec: ImageSpec,
    version: str,
    epoch: str,
    given: Mapping[str, Path],
    progress: Progress | None = None,
) -> tuple[list[Path], Path | None]:
    """The wheels of ``spec`` (``given`` ones, the rest built) and its rendered site, staged."""
    say = progress or (lambda _msg: None)
    wheels: list[Path] = []
    staging = ws.root / "build" / "images" / "wheels" / spec.name
    if spec.dists:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
    for dist in spec.dists:
        if dist in given:
            say(f"image:{spec.name} wheel {given[dist].name} (from the Python build)")
            wheels.append(given[dist])
            continue
        say(f"image:{spec.name} building the wheel of {dist} {version}")
        wheels.append(_build_wheel(ws, spec, dist, version, epoch, staging))
    site: Path | None = None
    if spec.site:
        pkg = ws.get(spec.package)
        site = ws.root / "build" / "images" / "site" / pkg.name
        if site.exists():
            shutil.rmtree(site)
        site.parent.mkdir(parents=True, exist_ok=True)
        say(f"image:{spec.name} rendering the site of {pkg.name} {version}")
        pythonpath = os.pathsep.join(str(ws.get(n).dir / "src") for n in (pkg.name, *pkg.deps))
        argv = [sys.executable, "-m", pkg.spec.module, "build", "--out", str(site)]
        run(
            [*argv, "--version", version],
            cwd=ws.root,
            env={"PYTHONPATH": pythonpath, "SOURCE_DATE_EPOCH": epoch},
            quiet=True,
            hint=f"The site builder of {pkg.dir} failed; fix the error above.",
        )
    return wheels, site


def put_in_place(ws: Workspace, spec: ImageSpec, wheels: list[Path], site: Path | None) -> None:
    """Fill ``build/wheelhouse/<image>/`` and ``build/site/<package>/``; hold CONTEXT_LOCK."""
    if spec.dists:
        dest = ws.root / "build" / "wheelhouse" / spec.name
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for wheel in wheels:
            shutil.copy2(wheel, dest / wheel.name)
    if site is not None:
        dest = ws.root / "build" / "site" / spec.package
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(site, dest)
