"""Build every artifact of the monorepo into ``dist/<version>/``, skipping what is up to date.

The artifacts form a graph (``schedule``) and build side by side, ``jobs`` at a time:

- ``wheel:<package>``: sdist, wheel, smoke test and SBOM; needs the ``wheel:`` nodes of
  the internal packages it depends on (their wheels install beside it in the smoke test);
- ``binary:<package>``: PyInstaller from the packages' sources; needs nothing;
- ``site:<package>``: the site tarball; needs nothing;
- ``image:<image>``: the image, built by BuildKit (or found up to date), recorded by digest
  and pushed by digest to the release's registry, then each platform started and
  health-checked unless its digest already passed (what ships is what was seen running);
  needs the ``wheel:`` nodes of the distributions it
  installs, and ``control-panel-web`` needs the API image its smoke test starts behind it.

``SHA256SUMS`` is rewritten last, over whatever ``dist/<version>/`` holds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from releasekit.build import artifacts, binary, checksums, images, site
from releasekit.build import python as python_dist
from releasekit.build.artifacts import Outcome, Progress
from releasekit.build.board import Board
from releasekit.build.cache import check_toolchain
from releasekit.build.schedule import Job, Node, run_graph
from releasekit.core.workspace import Package, Workspace

__all__ = ["KINDS", "Built", "Kind", "build", "build_images", "default_jobs"]

Kind = Literal["python", "binary", "site", "images"]
KINDS: tuple[Kind, ...] = ("python", "binary", "site", "images")
# The smoke test of the web image starts the API image behind its proxy.
_SMOKE_NEEDS = {"control-panel-web": ("control-panel-api",)}


@dataclass(frozen=True)
class Built:
    """The result of a build: the version folder, every artifact, and SHA256SUMS."""

    version: str
    outcomes: tuple[Outcome, ...]
    checksums: Outcome


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _plan(
    ws: Workspace,
    version: str,
    chosen: Sequence[images.ImageSpec],
    registry: images.Source | None = None,
    remote_cache: bool = True,
    progress: Progress | None = None,
) -> images.ImagePlan:
    client = images.connect()
    try:
        return images.plan(
            ws, version, chosen, client, registry=registry, remote_cache=remote_cache,
            progress=progress,
        )  # fmt: skip
    finally:
        client.close()


def _python_nodes(
    ws: Workspace, version: str, epoch: str, packages: Sequence[str] | None, force: bool
) -> list[Node]:
    nodes = []
    for pkg in python_dist.python_packages(ws, packages):

        def work(job: Job, pkg: Package = pkg) -> Outcome:
            deps = {k.removeprefix("wheel:"): o for k, o in job.done.items() if k[:6] == "wheel:"}
            return python_dist.build_package(
                ws, pkg, version, epoch=epoch, deps=deps, force=force, progress=job.say
            )

        needs = tuple(f"wheel:{d}" for d in pkg.deps if "wheel" in ws.get(d).spec.artifacts)
        nodes.append(Node(f"wheel:{pkg.name}", work, needs, cost=5))
    return nodes


def _binary_nodes(ws: Workspace, version: str, epoch: str, force: bool) -> list[Node]:
    nodes = []
    for pkg in binary.binary_packages(ws):

        def work(job: Job, pkg: Package = pkg) -> Outcome:
            return binary.build_package(
                ws, pkg, version, epoch=epoch, force=force, progress=job.say
            )

        nodes.append(Node(f"binary:{pkg.name}", work, cost=40))
    return nodes


def _site_nodes(ws: Workspace, version: str, epoch: str, force: bool) -> list[Node]:
    nodes = []
    for pkg in site.site_packages(ws):

        def work(job: Job, pkg: Package = pkg) -> Outcome:
            return site.build_package(ws, pkg, version, epoch=epoch, force=force, progress=job.say)

        nodes.append(Node(f"site:{pkg.name}", work))
    return nodes


def _image_nodes(
    ws: Workspace,
    version: str,
    packages: Sequence[str] | None,
    force: bool,
    wheel_nodes: Sequence[Node],
    registry: images.Source | None = None,
    remote_cache: bool = True,
    progress: Progress | None = None,
) -> list[Node]:
    chosen = images.specs(ws, packages)
    if not chosen:
        return []
    planned = _plan(ws, version, chosen, registry, remote_cache, progress)
    wheel_keys = {n.key for n in wheel_nodes}
    by_dist = {p.spec.dist: p.name for p in ws.packages}
    names = {spec.name for spec in chosen}
    nodes = []
    for spec in chosen:
        needs = [f"wheel:{by_dist[d]}" for d in spec.dists if f"wheel:{by_dist[d]}" in wheel_keys]
        needs += [f"image:{n}" for n in _SMOKE_NEEDS.get(spec.name, ()) if n in names]

        def work(
            job: Job, spec: images.ImageSpec = spec, from_python: bool = bool(wheel_keys)
        ) -> Outcome:
            client = images.connect()
            try:
                wheels: dict[str, Path] | None = None
                if from_python:
                    wheels = {}
                    for dist in spec.dists:
                        done = job.done.get(f"wheel:{by_dist[dist]}")
                        if done is not None:
                            wheels[dist] = next(p for p in done.outputs if p.suffix == ".whl")
                result = images.build_image(
                    ws, planned, spec, client=client, wheels=wheels, force=force, progress=job.say
                )
                images.smoke_platforms(ws, planned, spec, client, job.say)
            finally:
                client.close()
            return Outcome(
                result.key,
                result.status,
                result.outputs,
                result.digest,
                result.repository,
                result.platforms,
            )

        nodes.append(Node(f"image:{spec.name}", work, tuple(needs), cost=15))
    return nodes


def build(
    ws: Workspace,
    kinds: Sequence[Kind] = KINDS,
    *,
    packages: Sequence[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
    jobs: int | None = None,
    verbose: bool = False,
    registry: images.Source | None = None,
    remote_cache: bool = True,
) -> Built:
    """Build the artifacts of ``kinds`` (Python ones of ``packages`` only, when given).

    At most ``jobs`` artifacts build at once (default: the number of cores). The console
    shows one line per artifact (``board``): live on a terminal, else one line per state
    change through ``progress`` (default stderr); ``verbose`` also prints every log line.
    ``registry`` is where the release publishes its images: each is pushed there by digest
    when it answers, and ``remote_cache`` shares BuildKit's cache through it.
    """
    check_toolchain(ws.root)
    version = artifacts.dist_version(ws, packages)
    epoch = artifacts.source_date_epoch(ws.root)
    nodes: list[Node] = []
    if "python" in kinds:
        nodes += _python_nodes(ws, version, epoch, packages, force)
    if "binary" in kinds:
        nodes += _binary_nodes(ws, version, epoch, force)
    if "site" in kinds:
        nodes += _site_nodes(ws, version, epoch, force)
    if "images" in kinds:
        wheels = [n for n in nodes if n.key.startswith("wheel:")]
        nodes += _image_nodes(
            ws, version, packages, force, wheels, registry, remote_cache, progress
        )
    board = Board([n.key for n in nodes], progress=progress, verbose=verbose)
    with board.shown():
        done = run_graph(ws.root, nodes, jobs=jobs or default_jobs(), board=board)
    outcomes = [done[n.key] for n in nodes]
    folder = artifacts.dist_dir(ws, version)
    folder.mkdir(parents=True, exist_ok=True)
    previous = folder / checksums.FILENAME
    before = previous.read_bytes() if previous.is_file() else None
    path = checksums.write(folder)
    status: artifacts.Status = "up to date" if path.read_bytes() == before else "built"
    sums = Outcome(checksums.FILENAME, status, (path,))
    return Built(version=version, outcomes=tuple(outcomes), checksums=sums)


def build_images(
    ws: Workspace,
    *,
    packages: Sequence[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
    jobs: int | None = None,
    verbose: bool = False,
    registry: images.Source | None = None,
    remote_cache: bool = True,
) -> tuple[str, list[images.ImageResult]]:
    """Build, tag and SBOM the images of ``packages`` (default all) side by side, no smoke test.

    Returns the version and one result per image, in manifest order.
    """
    version = artifacts.dist_version(ws, packages)
    chosen = images.specs(ws, packages)
    planned = _plan(ws, version, chosen, registry, remote_cache, progress)
    results: dict[str, images.ImageResult] = {}
    nodes = []
    for spec in chosen:

        def work(job: Job, spec: images.ImageSpec = spec) -> Outcome:
            client = images.connect()
            try:
                result = images.build_image(
                    ws, planned, spec, client=client, force=force, progress=job.say
                )
            finally:
                client.close()
            results[spec.name] = result
            return Outcome(result.key, result.status, result.outputs)

        nodes.append(Node(f"image:{spec.name}", work, cost=15))
    board = Board([n.key for n in nodes], progress=progress, verbose=verbose)
    with board.shown():
        run_graph(ws.root, nodes, jobs=jobs or default_jobs(), board=board)
    return version, [results[spec.name] for spec in chosen]
