"""Sign what was published (images, charts, SBOM attestations, provenance) and verify it
at every destination."""

from __future__ import annotations

from pathlib import Path

from releasekit.build import checksums
from releasekit.core import git
from releasekit.core.artifact import Artifact, kind_of
from releasekit.core.files import file_sha256
from releasekit.core.recorded import check_unknown, rehashed
from releasekit.publish import provenance, supply_chain
from releasekit.publish.builder import stamp
from releasekit.publish.verify import raise_on_failure, verify_release
from releasekit.release.context import Context
from releasekit.release.steps.base import Step

__all__ = ["Sign", "VerifyPublished", "recorded_files"]

_DESCRIBING = provenance.METADATA | {checksums.FILENAME}
"""Files of the folder that describe the release, written by the steps that sign and report."""


def recorded_files(ctx: Context) -> dict[str, str]:
    """Every file the release recorded (but those describing it), each hashed again.

    Raises VerificationError (exit 11) naming a file that changed since it was recorded,
    or the files of the folder that no step recorded.
    """
    folder = ctx.folder
    check_unknown(folder, checksums.release_files(folder), ctx.artifacts.files(), _DESCRIBING)
    found = {}
    for artifact in ctx.artifacts.files():
        if Path(artifact.path).name not in _DESCRIBING:
            rehashed(folder, artifact)
            found[artifact.path] = artifact.sha256
    return found


class Sign(Step):
    """Sign images and charts by digest, attest image SBOMs, write the signed provenance."""

    name = "sign"
    summary = "sign images and charts, attest SBOMs, signed provenance"
    writes = ("signed", "provenance", "artifacts")

    def skip(self, ctx: Context) -> str | None:
        if supply_chain.signs(ctx.dest):
            return None
        return f"not signed: [targets.{ctx.dest.name}] names no signing_key_env"

    def run(self, ctx: Context) -> str:
        opts, target = ctx.opts, ctx.dest
        files = recorded_files(ctx)
        started = stamp(git.commit_time(ctx.root, ctx.commit or "HEAD"))
        signed, _ = supply_chain.sign_published(
            ctx.root,
            ctx.version,
            target,
            {**ctx.published(), "tag": ctx.tag},
            {"part": opts.part, "to": opts.to, "env": opts.env, "target": opts.target},
            started,
            say=ctx.say,
            files=files,
        )
        for archive, chart in signed.charts.items():
            ctx.artifacts.update("chart", archive, digest=chart.get("digest", ""))
        for path in (signed.provenance, signed.public_key):
            rel = path.relative_to(ctx.folder).as_posix()
            ctx.record(
                Artifact(kind_of(rel), rel, path=rel, sha256=file_sha256(path), status="signed")
            )
        ctx.signed = list(signed.actions)
        ctx.provenance = str(signed.provenance.relative_to(ctx.root))
        return f"{len(signed.actions) - 1} artifacts signed, {signed.provenance.name}"


class VerifyPublished(Step):
    """Every artifact at its destination: digest, signature, SBOM attestation, provenance."""

    name = "verify-published"
    summary = "digest, signature, provenance at each destination"

    def run(self, ctx: Context) -> str:
        new, target, folder = ctx.version, ctx.dest, ctx.folder
        record = supply_chain.Record.from_data(
            {**ctx.published(), "tag": ctx.tag}, recorded_files(ctx)
        )
        public = (
            supply_chain.release_key(ctx.root, target).public
            if supply_chain.signs(target)
            else None
        )
        rows = verify_release(
            record, folder, public, supply_chain.access(target), target.pypi_index
        )
        raise_on_failure(rows, new)
        return f"{len(rows)} artifacts verified at their destinations"
