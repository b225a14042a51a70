"""The publishing steps: Python dists to the index, images to the registry, charts to OCI.

Each asks the destination first and skips identical content, and records in the registry
where every artifact went and what happened to it.
"""

from __future__ import annotations

from releasekit.core import git
from releasekit.core.artifact import IMAGES_FILE, Artifact, kind_of, write_images
from releasekit.core.errors import VerificationError
from releasekit.core.files import file_sha256
from releasekit.core.recorded import rehashed
from releasekit.publish import attestations, charts, third_party
from releasekit.publish import index as python_upload
from releasekit.publish.registry import PushResult, push_images
from releasekit.release import kept
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
        dists = {rehashed(ctx.folder, a): a for a in ctx.artifacts.of("sdist", "wheel")}
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
            if r.sha256 != old.sha256:
                raise VerificationError(
                    f"{r.path} had sha256 {r.sha256} when it was uploaded to {target.pypi_url}, "
                    f"not sha256 {old.sha256} that the build recorded: it changed during the "
                    "upload. Find out what changed it; the index now holds that file."
                )
            ctx.artifacts.update(old.kind, old.name, destination=target.pypi_url, status=r.status)
        new = sum(1 for r in results if r.status != "skipped")
        return f"{new} uploaded, {len(results) - new} already there"


class PublishImages(Step):
    """Tag every image's recorded digest in the registry; digests recorded in images.json.

    Every third-party image (release.toml [[third_party]]) is then looked up in the target's
    registry by digest (the sandbox pushes its stand-in first) and its pin recorded in
    third-party.json; one that is missing is named with how to copy it, and every deploy
    refuses it until it is there.
    """

    name = "publish-images"
    summary = "tag every image digest"
    writes = ("artifacts",)

    def run(self, ctx: Context) -> str:
        target = ctx.dest
        auth = None
        if target.registry_username:
            auth = {"username": target.registry_username, "password": target.registry_password}
        ws = ctx.ws
        if ctx.plan:
            results = _push_packages(ctx, auth)
        else:
            # Releases are the tags on the remote: a local tag never pushed is none.
            released = set(git.remote_versions(ws.root, target.git_remote))
            results = push_images(
                ws,
                ctx.version,
                target.registry,
                auth=auth,
                progress=ctx.progress,
                released=sorted(released),
                layers=ctx.opts.verbose,
                recorded=ctx.artifacts.of("image"),
            )
        for r in results:
            ctx.artifacts.update(
                "image",
                r.name,
                digest=r.digest,
                tags=tuple(r.tags),
                destination=r.repository,
                status=r.status,
                platforms=r.platforms,
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
        pins = third_party.provide(ws.root, target, say=ctx.say)
        if not pins:
            return f"{len(results)} images"
        absent = {pin.name for pin in third_party.missing(pins, target)}
        for pin in pins:
            status = "missing" if pin.name in absent else "present"
            ctx.say(f"third-party {pin.name}: {pin.ref} {status}")
            if status == "missing":
                ctx.say(f"copy it before any deploy: {third_party.copy_hint(pin)}")
            ctx.record(
                Artifact(
                    "third-party",
                    pin.name,
                    digest=pin.digest,
                    destination=pin.repository,
                    status=status,
                )
            )
        recorded = third_party.write(ctx.folder / third_party.THIRD_PARTY_FILE, pins)
        ctx.record(
            Artifact(
                kind_of(recorded.name),
                recorded.name,
                path=recorded.name,
                sha256=file_sha256(recorded),
                status="written",
            )
        )
        return f"{len(results)} images, {len(pins)} third-party"


def _push_packages(ctx: Context, auth: dict[str, str] | None) -> list[PushResult]:
    """Policy independent: each released package's images at its version; every other
    image recorded at its last release's digest (``kept``), so images.json is complete."""
    ws, target = ctx.ws, ctx.dest
    results: list[PushResult] = []
    moving = [str(e["package"]) for e in ctx.plan]
    for entry in ctx.plan:
        package = str(entry["package"])
        if "image" not in ws.get(package).spec.artifacts:
            continue
        results += push_images(
            ws,
            str(entry["new"]),
            target.registry,
            packages=[package],
            auth=auth,
            progress=ctx.progress,
            released=sorted(kept.released_versions(ws, target.git_remote, package)),
            layers=ctx.opts.verbose,
            folder=ctx.folder,
            recorded=ctx.artifacts.of("image"),
        )
    for image in kept.kept_images(ws, target.registry, target.git_remote, moving, auth):
        ctx.record(image)
        ctx.say(f"{image.name}: kept {image.destination}@{image.digest} ({image.tags[0]})")
    return results


class PublishCharts(Step):
    """Push every chart archive the build packaged, as built, to the chart registry."""

    name = "publish-charts"
    summary = "push the charts as built"
    writes = ("artifacts",)

    def run(self, ctx: Context) -> str:
        target = ctx.dest
        built = [a for a in ctx.artifacts.of("chart") if a.path]
        if not built and ctx.plan:
            return "no chart released (their packages keep their last release)"
        if not built and charts.find_charts(ctx.root):
            raise VerificationError(
                f"The release recorded no chart archive in {ctx.folder}/charts: its build step "
                "ran with a toolkit that packaged charts at publish time. Finish it with that "
                "toolkit, or delete build/release/state.json and run `invoke release --yes` "
                "again at the release commit."
            )
        for chart in built:
            archive = rehashed(ctx.folder, chart)
            result = charts.push(archive, target.chart_registry)
            ctx.artifacts.update("chart", chart.name, destination=result.ref, status=result.action)
        return f"{len(built)} charts"
