"""The nodes of the artifact graph, one builder per kind, for ``releasekit.build.runner``.

Each node looks its artifact up in the caches (``stores``) and builds it when neither holds
it. ``Layout`` says each package's version and the folder its files go to: one version and
``dist/<version>/`` for a lockstep release, each package's own under policy independent.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from releasekit.build import binary, images, site
from releasekit.build import python as python_dist
from releasekit.build.artifacts import Outcome, Progress
from releasekit.build.cache_store import Stores
from releasekit.build.schedule import Job, Node
from releasekit.core.workspace import Package, Workspace

__all__ = [
    "KINDS",
    "PYTHON",
    "Kind",
    "Layout",
    "artifact_keys",
    "binary_nodes",
    "image_nodes",
    "plan_images",
    "python_nodes",
    "site_nodes",
]

Kind = Literal["python", "binary", "site", "images"]
KINDS: tuple[Kind, ...] = ("python", "binary", "site", "images")
# The smoke test of the web image starts the API image behind its proxy.
_SMOKE_NEEDS = {"control-panel-web": ("control-panel-api",)}
PYTHON = {"sdist", "wheel"}
"""The artifacts a package's Python build makes."""


def plan_images(
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


@dataclass(frozen=True)
class Layout:
    """Each package's version and the folder its files go to (None: ``dist/<version>/``).

    Lockstep: one version for all, its own folder. A release of packages at several
    versions (policy independent) names its folder; a dependency built only to install
    beside a released package (not released itself) goes to ``build/python/support/``.
    """

    versions: Mapping[str, str]
    folder: Path | None = None
    released: frozenset[str] | None = None
    support: Path | None = None

    def version(self, package: str) -> str:
        return self.versions[package]

    def where(self, package: str) -> Path | None:
        if self.released is None or package in self.released:
            return self.folder
        return self.support


def artifact_keys(ws: Workspace, kinds: Sequence[Kind] = KINDS) -> list[str]:
    """The key of every artifact a build of ``kinds`` makes, in graph order (no docker)."""
    keys = []
    if "python" in kinds:
        keys += [f"wheel:{p.name}" for p in python_dist.python_packages(ws)]
    if "binary" in kinds:
        keys += [f"binary:{p.name}" for p in binary.binary_packages(ws)]
    if "site" in kinds:
        keys += [f"site:{p.name}" for p in site.site_packages(ws)]
    if "images" in kinds:
        keys += [f"image:{spec.name}" for spec in images.specs(ws)]
    return keys


def python_nodes(
    ws: Workspace,
    layout: Layout,
    epoch: str,
    packages: Sequence[str] | None,
    force: bool,
    stores: Stores,
) -> list[Node]:
    nodes: list[Node] = []
    if packages is not None and not packages:
        return nodes
    for pkg in python_dist.python_packages(ws, packages):

        def work(job: Job, pkg: Package = pkg) -> Outcome:
            deps = {k.removeprefix("wheel:"): o for k, o in job.done.items() if k[:6] == "wheel:"}
            return python_dist.build_package(
                ws,
                pkg,
                layout.version(pkg.name),
                epoch=epoch,
                deps=deps,
                force=force,
                progress=job.say,
                **_folder(layout, pkg.name),
                stores=stores,
            )

        needs = tuple(f"wheel:{d}" for d in pkg.deps if "wheel" in ws.get(d).spec.artifacts)
        nodes.append(Node(f"wheel:{pkg.name}", work, needs, cost=5))
    return nodes


def _folder(layout: Layout, package: str) -> dict[str, Path]:
    """The ``folder`` argument of a builder: given only when it is not the default."""
    where = layout.where(package)
    return {} if where is None else {"folder": where}


def _chosen(found: Sequence[Package], released: frozenset[str] | None) -> list[Package]:
    return [p for p in found if released is None or p.name in released]


def _package_nodes(
    kind: str,
    found: Sequence[Package],
    builder: Callable[..., Outcome],
    ws: Workspace,
    layout: Layout,
    epoch: str,
    force: bool,
    stores: Stores,
    cost: int = 1,
) -> list[Node]:
    """One ``<kind>:<package>`` node per package of ``found`` the layout builds."""
    nodes = []
    for pkg in _chosen(found, layout.released):

        def work(job: Job, pkg: Package = pkg) -> Outcome:
            return builder(
                ws,
                pkg,
                layout.version(pkg.name),
                epoch=epoch,
                force=force,
                progress=job.say,
                **_folder(layout, pkg.name),
                stores=stores,
            )

        nodes.append(Node(f"{kind}:{pkg.name}", work, cost=cost))
    return nodes


def binary_nodes(
    ws: Workspace, layout: Layout, epoch: str, force: bool, stores: Stores
) -> list[Node]:
    found = binary.binary_packages(ws)
    return _package_nodes(
        "binary", found, binary.build_package, ws, layout, epoch, force, stores, 40
    )


def site_nodes(
    ws: Workspace, layout: Layout, epoch: str, force: bool, stores: Stores
) -> list[Node]:
    found = site.site_packages(ws)
    return _package_nodes("site", found, site.build_package, ws, layout, epoch, force, stores)


def _in_folder(outcome: Outcome, folder: Path | None) -> Outcome:
    """An image's SBOM (written to ``dist/<its version>/sbom/``) copied into ``folder``."""
    if folder is None:
        return outcome
    moved = []
    for path in outcome.outputs:
        if path.is_relative_to(folder):
            moved.append(path)
            continue
        dest = folder / path.parent.name / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        moved.append(dest)
    return replace(outcome, outputs=tuple(moved))


def image_nodes(
    ws: Workspace,
    layout: Layout,
    packages: Sequence[str] | None,
    force: bool,
    wheel_nodes: Sequence[Node],
    registry: images.Source | None = None,
    remote_cache: bool = True,
    progress: Progress | None = None,
) -> list[Node]:
    if packages is not None and not packages:
        return []
    chosen = images.specs(ws, packages)
    if not chosen:
        return []
    plans: dict[str, images.ImagePlan] = {}
    for spec in chosen:
        at = layout.version(spec.package)
        if at not in plans:
            same = [s for s in chosen if layout.version(s.package) == at]
            plans[at] = plan_images(ws, at, same, registry, remote_cache, progress)
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
            version = layout.version(spec.package)
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
                    ws,
                    plans[version],
                    spec,
                    client=client,
                    wheels=wheels,
                    force=force,
                    progress=job.say,
                )
                images.smoke_platforms(ws, plans[version], spec, client, job.say)
            finally:
                client.close()
            outcome = Outcome(
                result.key,
                result.status,
                result.outputs,
                result.digest,
                result.repository,
                result.platforms,
            )
            return _in_folder(outcome, layout.where(spec.package))

        nodes.append(Node(f"image:{spec.name}", work, tuple(needs), cost=15))
    return nodes
