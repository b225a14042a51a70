"""The build step (every artifact, recorded in the registry) and the verify step."""

from __future__ import annotations

from pathlib import Path

from releasekit.build import checksums, images
from releasekit.build import runner as builds
from releasekit.build.artifacts import Outcome, source_date_epoch
from releasekit.build.cache_store import Remote
from releasekit.build.images import platforms
from releasekit.core.artifact import Artifact, kind_of
from releasekit.core.errors import ReleaseError
from releasekit.core.files import file_sha256
from releasekit.core.recorded import rehashed
from releasekit.publish import charts
from releasekit.release.chart_bumps import releasing_charts
from releasekit.release.context import Context
from releasekit.release.independent import ReleasePlan
from releasekit.release.steps.base import Step, check_head

__all__ = ["Build", "Verify", "package_charts", "record_outcome"]


def _relative(path: Path, folder: Path, root: Path) -> str:
    """``path`` below the release folder, or below the root when it lies elsewhere."""
    base = folder if path.is_relative_to(folder) else root
    return path.relative_to(base).as_posix()


def record_outcome(ctx: Context, outcome: Outcome, image_packages: dict[str, str]) -> None:
    """Record one build outcome: each of its files, and the image it stands for."""
    kind, _, owner = outcome.key.partition(":")
    package = image_packages.get(owner, "") if kind == "image" else owner
    for path in outcome.outputs:
        rel = _relative(path, ctx.folder, ctx.root)
        ctx.record(
            Artifact(
                kind=kind_of(rel),
                name=rel,
                package=package,
                path=rel,
                sha256=file_sha256(path),
                status=outcome.status,
            )
        )
    if kind == "image":
        ctx.record(
            Artifact(
                kind="image",
                name=owner,
                package=package,
                digest=outcome.digest,
                destination=outcome.destination,
                status=outcome.status,
                platforms=outcome.platforms,
            )
        )


def _charts(ctx: Context, planned: ReleasePlan | None) -> list[Path]:
    """Package the charts: every one at the release's version, or (policy independent) each
    chart the release moves (``release.chart_bumps``) at the version its Chart.yaml holds
    once prepared; each recorded."""
    epoch = int(source_date_epoch(ctx.root))
    batches: list[tuple[str, list[Path]]] = []
    if planned is None:
        batches.append((ctx.version, charts.package(ctx.root, ctx.version, epoch=epoch)))
    else:
        moving = {file.parent.name for file in releasing_charts(ctx.ws, planned.versions)}
        for chart in charts.find_charts(ctx.root):
            if chart.name in moving:
                made = charts.package(ctx.root, None, chart.name, epoch=epoch, folder=ctx.folder)
                batches.append((chart.version, made))
    packaged: list[Path] = []
    for version, archives in batches:
        for archive in archives:
            packaged.append(archive)
            ctx.record(
                Artifact(
                    kind="chart",
                    name=archive.name,
                    package=archive.name.removesuffix(f"-{version}.tgz"),
                    path=archive.relative_to(ctx.folder).as_posix(),
                    sha256=file_sha256(archive),
                    status="packaged",
                )
            )
    return packaged


def package_charts(ctx: Context) -> list[Path]:
    """Package the charts of the release (reproducible archives) and record them; their paths."""
    return _charts(ctx, ReleasePlan.from_context(ctx.plan) if ctx.plan else None)


def shared_cache(ctx: Context) -> Remote:
    """The shared build cache in the target's registry, with the target's credentials."""
    target = ctx.dest
    return Remote.parse(
        target.registry,
        plain_http=target.plain_http,
        username=target.registry_username,
        password=target.registry_password,
    )


class Build(Step):
    """Charts (reproducible archives), every other artifact (cached by inputs), SHA256SUMS."""

    name = "build"
    summary = "charts, sdists, wheels, binary, site, images (cached by inputs)"
    writes = ("artifacts", "timeline")

    def run(self, ctx: Context) -> str:
        check_head(ctx)
        planned = ReleasePlan.from_context(ctx.plan) if ctx.plan else None
        packaged = package_charts(ctx)
        target = ctx.dest
        auth = None
        if target.registry_username:
            auth = {"username": target.registry_username, "password": target.registry_password}
        versions = None if planned is None else planned.versions
        built = builds.build(
            ctx.ws,
            progress=ctx.progress,
            jobs=ctx.opts.jobs,
            verbose=ctx.opts.verbose,
            registry=images.Source.parse(target.registry, auth),
            versions=versions,
            folder=None if versions is None else ctx.folder,
            remote=shared_cache(ctx) if ctx.opts.remote_cache else None,
        )
        ctx.timeline = [dict(t) for t in built.timeline]
        image_packages = {spec.name: spec.package for spec in images.specs(ctx.ws)}
        for outcome in (*built.outcomes, built.checksums):
            if versions is None or all(p.is_relative_to(ctx.folder) for p in outcome.outputs):
                record_outcome(ctx, outcome, image_packages)
        fresh = sum(1 for o in built.outcomes if o.status == "built")
        return f"{len(packaged)} charts, {len(built.outcomes)} artifacts, {fresh} built"


class Verify(Step):
    """SHA256SUMS holds, charts lint strictly, every image holds release.toml's platforms.

    Wheels and images were smoke-tested in build.
    """

    name = "verify"
    summary = "checksums, chart lint, image platforms"

    def run(self, ctx: Context) -> str:
        folder = ctx.folder
        for artifact in ctx.artifacts.files():
            rehashed(folder, artifact)
        sums = checksums.parse(folder / checksums.FILENAME)
        bad = [name for name, digest in sums.items() if file_sha256(folder / name) != digest]
        if bad:
            raise ReleaseError(f"{folder / checksums.FILENAME} does not match: {', '.join(bad)}.")
        charts.lint(ctx.root)
        manifest = ctx.ws.manifest
        built = {a.name: [p for p, _ in a.platforms] for a in ctx.artifacts.of("image") if a.digest}
        platforms.require_platforms(manifest.path, manifest.platforms, built)
        return (
            f"{len(sums)} checksums, charts lint clean, "
            f"{len(built)} images of {', '.join(manifest.platforms)}"
        )
