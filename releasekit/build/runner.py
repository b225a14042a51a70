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

Every artifact is looked up in the local cache, then in the shared cache of the target's
registry (``remote``, ``releasekit.build.cache_store``), and built only when neither holds
it; what is built is pushed to the shared cache. With ``shard``, only the artifacts that
shard owns (``releasekit.build.shard``) and what they need are built; ``build_shard`` then
writes them into the shard's folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from releasekit.build import artifacts, checksums, images, noop
from releasekit.build import nodes as kinds_of
from releasekit.build import shard as shards
from releasekit.build.artifacts import Outcome, Progress
from releasekit.build.board import Board
from releasekit.build.cache import check_toolchain
from releasekit.build.cache_store import Remote, Stores
from releasekit.build.nodes import KINDS, PYTHON, Kind, Layout, artifact_keys, plan_images
from releasekit.build.schedule import Job, Node, run_graph
from releasekit.core import git
from releasekit.core import version as core_version
from releasekit.core.workspace import Workspace

__all__ = [
    "KINDS",
    "Built",
    "Kind",
    "artifact_keys",
    "build",
    "build_images",
    "build_shard",
    "default_jobs",
]


@dataclass(frozen=True)
class Built:
    """The result of a build: the version folder, every artifact, and SHA256SUMS.

    ``timeline`` holds, for each artifact, what it needed and when it started and ended.
    """

    version: str
    outcomes: tuple[Outcome, ...]
    checksums: Outcome
    timeline: tuple[dict[str, object], ...] = ()


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


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
    versions: Mapping[str, str] | None = None,
    folder: Path | None = None,
    remote: Remote | None = None,
    shard: shards.Shard | None = None,
) -> Built:
    """Build the artifacts of ``kinds`` (Python ones of ``packages`` only, when given).

    At most ``jobs`` artifacts build at once (default: the number of cores). The console
    shows one line per artifact (``board``): live on a terminal, else one line per state
    change through ``progress`` (default stderr); ``verbose`` also prints every log line.
    ``registry`` is where the release publishes its images: each is pushed there by digest
    when it answers. ``remote`` is the shared cache (None: the local cache only); BuildKit's
    cache is shared through the registry with it. With ``shard``, the outcomes are those of
    the artifacts the shard owns.

    ``versions`` (a release of packages at several versions, policy independent) builds
    every artifact of those packages only, each at its package's version, into ``folder``
    (the release's, ``dist/<release id>/``); a dependency they install beside them builds
    at its current version outside it. Without it, one version names every artifact and
    ``dist/<version>/``.
    """
    check_toolchain(ws.root)
    complete = tuple(kinds) == KINDS and not packages and shard is None and versions is None
    taken = noop.fingerprint(ws.root) if complete else ""
    noop.forget(ws.root)
    chosen, python_names = packages, packages
    if versions is not None:
        if folder is None:
            raise ValueError("build(versions=...) needs the release's folder")
        support = ws.root / "build" / "python" / "support"
        layout = Layout(
            {**core_version.check(ws), **versions}, folder, frozenset(versions), support
        )
        chosen = [n for n in ws.order() if n in versions]
        python_names = [n for n in chosen if PYTHON & set(ws.get(n).spec.artifacts)]
        version = folder.name
    else:
        version = artifacts.dist_version(ws, packages)
        layout = Layout({p.name: version for p in ws.packages})
    epoch = artifacts.source_date_epoch(ws.root)
    stores = Stores(ws.root, remote, progress)
    nodes: list[Node] = []
    if "python" in kinds:
        nodes += kinds_of.python_nodes(ws, layout, epoch, python_names, force, stores)
    if "binary" in kinds:
        nodes += kinds_of.binary_nodes(ws, layout, epoch, force, stores)
    if "site" in kinds:
        nodes += kinds_of.site_nodes(ws, layout, epoch, force, stores)
    if "images" in kinds:
        wheels = [n for n in nodes if n.key.startswith("wheel:")]
        remote_cache = remote is not None
        nodes += kinds_of.image_nodes(
            ws, layout, chosen, force, wheels, registry, remote_cache, progress
        )
    owned = [n.key for n in nodes]
    if shard is not None:
        assignment = shard_assignment(ws, nodes, shard.count)
        owned = [n.key for n in nodes if assignment[n.key] == shard.index]
        units = [shards.Unit(n.key, n.needs, n.cost) for n in nodes]
        wanted = shards.needed(owned, units)
        nodes = [n for n in nodes if n.key in wanted]
    board = Board([n.key for n in nodes], progress=progress, verbose=verbose)
    seconds: dict[str, float] = {}
    with board.shown():
        done = run_graph(ws.root, nodes, jobs=jobs or default_jobs(), board=board, seconds=seconds)
    shards.save_times(ws.root, {k: t for k, t in seconds.items() if done[k].status == "built"})
    outcomes = [done[key] for key in owned]
    folder = folder or artifacts.dist_dir(ws, version)
    folder.mkdir(parents=True, exist_ok=True)
    previous = folder / checksums.FILENAME
    before = previous.read_bytes() if previous.is_file() else None
    path = checksums.write(folder)
    status: artifacts.Status = "up to date" if path.read_bytes() == before else "built"
    sums = Outcome(checksums.FILENAME, status, (path,))
    if complete:
        rows = artifacts.outcome_rows(ws.root, [*outcomes, sums])
        noop.write(ws.root, version, taken, rows)
    needs = {n.key: list(n.needs) for n in nodes}
    timeline = tuple({**t.to_json(), "needs": needs[t.key]} for t in board.timings())
    return Built(version=version, outcomes=tuple(outcomes), checksums=sums, timeline=timeline)


def shard_assignment(ws: Workspace, nodes: Sequence[Node], count: int) -> dict[str, int]:
    """Each node's shard of ``count``, balanced by the recorded build times of ``ws``."""
    units = [shards.Unit(n.key, n.needs, n.cost) for n in nodes]
    return shards.assign(units, count, shards.recorded_times(ws.root))


def build_shard(
    ws: Workspace,
    shard: shards.Shard,
    folder: Path,
    *,
    progress: Progress | None = None,
    jobs: int | None = None,
    verbose: bool = False,
    registry: images.Source | None = None,
    remote: Remote | None = None,
) -> Built:
    """``build`` of shard ``shard`` (every kind), its files and record written into ``folder``
    and tarred beside it (``<folder>.tar``)."""
    built = build(
        ws,
        progress=progress,
        jobs=jobs,
        verbose=verbose,
        registry=registry,
        remote=remote,
        shard=shard,
    )
    shards.write(
        folder,
        artifacts.dist_dir(ws, built.version),
        version=built.version,
        commit=git.head(ws.root),
        shard=shard,
        assignment={o.key: shard.index for o in built.outcomes},
        outcomes=built.outcomes,
    )
    shards.archive(folder)
    return built


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
    planned = plan_images(ws, version, chosen, registry, remote_cache, progress)
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
