"""The publishing steps: Python dists to the index, images to the registry, charts to OCI.

Each asks the destination first and skips identical content, and records in the registry
where every artifact went and what happened to it.
"""

from __future__ import annotations

from releasekit.core import git
from releasekit.core.artifact import IMAGES_FILE, Artifact, kind_of, write_images
from releasekit.core.files import file_sha256
from releasekit.publish import attestations, charts
from releasekit.publish import index as python_upload
from releasekit.publish.registry import push_images
from releasekit.release.context import Context
from releasekit.release.steps.base import Step

__all__ = ["PublishCharts", "PublishImages", "PublishPython"]


class PublishPython(Step):
    """Upload every sdist and wheel the index does not hold yet."""

    name = "publish-python"
    summary = "upload sdists and wheels"
    writes = ("artifacts",)

    def run(self, ctx: Context) -> str:
        target = ctx.dest
        dists = {ctx.folder / a.path: a for a in ctx.artifacts.of("sdist", "wheel")}
        paths = sorted(dists)
        attestations.attest(paths)  # PEP 740, only where the job has an OIDC identity
        results = python_upload.upload(
            paths,
            target.pypi_url,
            index_url=target.pypi_index,
            auth=(target.pypi_username, target.pypi_password),
            read_auth=(target.pypi_read_username, target.pypi_read_password),
        )
        for r in results:
            old = dists[r.path]
            ctx.artifacts.update(
                old.kind, old.name, sha256=r.sha256, destination=target.pypi_url, status=r.status
            )
        new = sum(1 for r in results if r.status != "skipped")
        return f"{new} uploaded, {len(results) - new} already there"


class PublishImages(Step):
    """Push every tag of every image; digests recorded in images.json."""

    name = "publish-images"
    summary = "push every image tag"
    writes = ("artifacts",)

    def run(self, ctx: Context) -> str:
        target = ctx.dest
        auth = None
        if target.registry_username:
            auth = {"username": target.registry_username, "password": target.registry_password}
        ws = ctx.ws
        released = {
            *git.released_versions(ws.root),
            *git.remote_versions(ws.root, target.git_remote),
        }
        results = push_images(
            ws,
            ctx.version,
            target.registry,
            auth=auth,
            progress=ctx.progress,
            released=sorted(released),
            layers=ctx.opts.verbose,
        )
        for r in results:
            ctx.artifacts.update(
                "image",
                r.name,
                digest=r.digest,
                tags=tuple(r.tags),
                destination=r.repository,
                status=r.status,
            )
        written = ctx.folder / IMAGES_FILE
        write_images(written, ctx.artifacts.images())
        ctx.record(
            Artifact(
                kind_of(IMAGES_FILE),
                IMAGES_FILE,
                path=IMAGES_FILE,
                sha256=file_sha256(written),
                status="written",
            )
        )
        return f"{len(results)} images"


class PublishCharts(Step):
    """Package every chart at the release version and push it to the chart registry."""

    name = "publish-charts"
    summary = "package and push the charts"
    writes = ("artifacts",)

    def run(self, ctx: Context) -> str:
        target = ctx.dest
        archives = charts.package(ctx.root, ctx.version)
        for archive in archives:
            result = charts.push(archive, target.chart_registry)
            rel = (
                archive.relative_to(ctx.folder).as_posix()
                if archive.is_relative_to(ctx.folder)
                else ""
            )
            ctx.artifacts.update(
                "chart",
                archive.name,
                path=rel,
                package=archive.name.removesuffix(f"-{ctx.version}.tgz"),
                sha256=file_sha256(archive),
                destination=result.ref,
                status=result.action,
            )
        return f"{len(archives)} charts"
