"""Publish the built images: tag in the registry the digests the build recorded.

The build recorded each image's digest (the OCI index its tags name) before anything was
pushed, and pushed it by digest when the registry answered. Publishing asks the registry
first: the version tag already there must name that digest (a re-run, or another machine,
publishes nothing new); any other digest is a ConflictError, since a release never changes
what a version names. An image the registry lacks is pushed from BuildKit first (a cached
build of the same request, which must give the recorded digest, else a ConflictError). The
tags are then pointed at the digest through the registry's API, the version tag first, so
a machine that never built the image (a merge job) can publish it. ``images.json`` is
written (atomically) only once every tag is in place.

``push_tag`` and ``remote_digest`` push and ask through Docker Engine, for the third-party
images the sandbox provides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from releasekit.build import artifacts
from releasekit.build.artifacts import Progress
from releasekit.build.images import buildkit, records
from releasekit.build.images.adopt import DEFAULT_NAMESPACE, Source
from releasekit.build.images.spec import ImageSpec, connect, specs, tags_for
from releasekit.core import git
from releasekit.core.artifact import IMAGES_FILE, Artifact, ImagePin, write_images
from releasekit.core.errors import ConflictError, PreflightError, PublishError
from releasekit.core.workspace import Workspace
from releasekit.publish import oci

if TYPE_CHECKING:
    from docker.client import DockerClient

__all__ = [
    "DEFAULT_NAMESPACE",
    "PushResult",
    "push_images",
    "push_tag",
    "remote_digest",
    "split_registry",
]


@dataclass(frozen=True)
class PushResult:
    """One image after publishing: where it went, its tags, digests, whether anything moved."""

    name: str
    repository: str
    tags: tuple[str, ...]
    digest: str
    status: Literal["pushed", "up to date"]
    platforms: tuple[tuple[str, str], ...] = ()


def split_registry(registry: str) -> tuple[str, str]:
    """``HOST[:PORT][/NAMESPACE]`` -> (host, namespace); the namespace defaults to ironcage."""
    try:
        source = Source.parse(registry)
    except PreflightError as exc:
        raise PublishError(str(exc)) from None
    return source.host, source.namespace


def remote_digest(
    client: DockerClient, ref: str, auth: Mapping[str, str] | None, host: str
) -> str | None:
    """The digest ``ref`` names in its registry, None when the tag does not exist."""
    import docker.errors

    try:
        return str(client.images.get_registry_data(ref, auth_config=dict(auth or {}) or None).id)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise PublishError(
            f"The registry {host} cannot be reached or refused the request for {ref}: "
            f"{exc.explanation or exc}. Check that it runs and accepts this engine "
            "(plain-HTTP registries other than 127.0.0.1 must be in dockerd's "
            "insecure-registries), then push again."
        ) from None


def push_tag(
    client: DockerClient,
    repository: str,
    tag: str,
    auth: Mapping[str, str] | None,
    say: Progress,
    layers: bool = False,
) -> str:
    """Push one tag; the manifest digest the registry answered with (``layers``: say each)."""
    import docker.errors

    digest = ""
    try:
        stream: Iterable[dict[str, Any]] = client.images.push(
            repository, tag=tag, stream=True, decode=True, auth_config=auth
        )
        for chunk in stream:
            if "error" in chunk:
                raise PublishError(
                    f"Pushing {repository}:{tag} failed: {str(chunk['error']).strip()}. "
                    f"Check that the registry runs and accepts pushes, then push again."
                )
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "Digest" in aux:
                digest = str(aux["Digest"])
            status = str(chunk.get("status", ""))
            if layers and status in ("Pushed", "Layer already exists", "Mounted from"):
                say(f"{repository}:{tag} layer {chunk.get('id', '')} {status.lower()}")
    except docker.errors.APIError as exc:
        raise PublishError(
            f"Pushing {repository}:{tag} failed: {exc.explanation or exc}. Check the registry "
            "and push again."
        ) from None
    if not digest.startswith("sha256:"):
        raise PublishError(
            f"Pushing {repository}:{tag} ended without a digest from the registry; push again."
        )
    return digest


def _record(
    ws: Workspace, spec: ImageSpec, version: str, given: Mapping[str, Artifact]
) -> records.ImageRecord:
    found = records.read_record(ws.root, spec.name, version)
    known = given.get(spec.name)
    if known is not None and known.digest:
        if found is not None and found.digest != known.digest:
            raise ConflictError(
                f"The release recorded {spec.name} as {known.digest}, but the last build here "
                f"({records.record_path(ws.root, spec.name)}) made {found.digest}. Resume the "
                "release at its commit (`invoke release --resume`), or build again."
            )
        if found is None:
            platforms = tuple((p, m, "") for p, m in known.platforms)
            found = records.ImageRecord(spec.name, version, known.digest, platforms)
    if found is None:
        raise PublishError(
            f"No build of the image {spec.name} {version} is recorded in "
            f"{records.record_path(ws.root, spec.name)}, so there is no digest to publish. "
            "Build it first: `invoke build.images` (or `invoke build`)."
        )
    return found


def _push_from_buildkit(
    ws: Workspace, spec: ImageSpec, record: records.ImageRecord, source: Source, say: Progress
) -> None:
    """Push the recorded image by digest from BuildKit (a cached build of the same request)."""
    from releasekit.build import images

    client = connect()
    try:
        planned = images.plan(ws, record.version, [spec], client, registry=source, progress=say)
    finally:
        client.close()
    if planned.registry is None:
        raise PublishError(
            f"The registry {source.host} does not answer, so {spec.name} cannot be pushed. "
            "Start it (or fix the target's `registry`) and publish again."
        )
    req = images.request_for(ws, planned, spec)
    if not (ws.root / req.context).is_dir():
        images.prepare_context(ws, spec, record.version, planned.epoch, say)
        from releasekit.build.images import buildkit_image, context

        with context.CONTEXT_LOCK:
            buildkit_image.stage_context(ws.root, spec, ws.root / req.context, planned.epoch)
    from releasekit.build.images import buildkit_image

    say(f"{source.repository(spec.name)}@{record.digest} pushing from BuildKit")
    buildkit_image.push_by_digest(
        planned.daemon, ws.root, req, source.repository(spec.name), record.digest
    )


def _publish_image(
    ws: Workspace,
    spec: ImageSpec,
    version: str,
    source: Source,
    access: oci.Access,
    say: Progress,
    released: Sequence[str],
    given: Mapping[str, Artifact],
) -> PushResult:
    record = _record(ws, spec, version, given)
    repository = f"{source.namespace}/{spec.name}"
    full = f"{source.host}/{repository}"
    digest = record.digest
    current = oci.fetch_manifest(source.host, repository, version, access)
    if current is not None and current.digest != digest:
        raise ConflictError(
            f"{full}:{version} already exists in {source.host} with digest {current.digest}, "
            f"but this release built {spec.name} as {digest} "
            f"({records.record_path(ws.root, spec.name)}). A version is never pushed twice "
            "with different content: bump the version (`invoke version.bump`) and release that."
        )
    manifest = current or oci.fetch_manifest(source.host, repository, digest, access)
    if manifest is None:
        _push_from_buildkit(ws, spec, record, source, say)
        manifest = oci.fetch_manifest(source.host, repository, digest, access)
        if manifest is None:
            raise PublishError(
                f"BuildKit pushed {full}@{digest}, but the registry {source.host} does not "
                "serve it. Check the registry, then publish again."
            )
    revision = git.head(ws.root)
    tags = tags_for(version, revision[:7], released)
    moved = []
    for tag in [version, *(t for t in tags if t != version)]:
        there = manifest if tag == version and current is not None else None
        there = there or oci.fetch_manifest(source.host, repository, tag, access)
        if there is not None and there.digest == digest:
            say(f"{full}:{tag} already at {digest}")
            continue
        oci.put_manifest(source.host, repository, tag, manifest, access)
        moved.append(tag)
        say(f"{full}:{tag} tagged {digest}")
    pairs = tuple((p, m) for p, m, _ in record.platforms)
    status: Literal["pushed", "up to date"] = "pushed" if moved else "up to date"
    return PushResult(spec.name, full, tuple(tags), digest, status, pairs)


def push_images(
    ws: Workspace,
    version: str,
    registry: str,
    *,
    packages: Sequence[str] | None = None,
    images: Sequence[str] | None = None,
    auth: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    client: DockerClient | None = None,
    released: Sequence[str] | None = None,
    layers: bool = False,
    folder: Path | None = None,
    recorded: Sequence[Artifact] = (),
) -> list[PushResult]:
    """Tag, in ``registry``, the recorded digest of every image of ``packages`` (default all).

    ``progress`` hears one line per tag. ``registry`` is ``HOST[:PORT][/NAMESPACE]``
    (namespace default ``ironcage``); ``auth`` holds ``username`` and ``password`` for
    registries that need them. Writes ``dist/<version>/images.json`` ({image: {tags, digest,
    repository}}) after the last tag is in place, keeping the entries of other images (in
    ``folder`` instead, the release's folder, when given).
    ``recorded`` are the release's image artifacts: their digests are the ones to publish
    (a machine that did not build them has no ``build/images/`` record). ``client`` and
    ``layers`` are accepted for callers of the Docker Engine push.
    """
    del client, layers
    say = progress or (lambda _msg: None)
    try:
        source = Source.parse(registry, auth)
    except PreflightError as exc:
        raise PublishError(str(exc)) from None
    access = oci.Access(
        plain_http=buildkit.insecure(source.host),
        username=str((auth or {}).get("username", "")),
        password=str((auth or {}).get("password", "")),
    )
    if released is None:
        released = git.released_versions(ws.root)
    given = {a.name: a for a in recorded if a.kind == "image"}
    results = [
        _publish_image(ws, spec, version, source, access, say, released, given)
        for spec in specs(ws, packages, images)
    ]
    write_images(
        (folder or artifacts.dist_dir(ws, version)) / IMAGES_FILE,
        {r.name: ImagePin(r.repository, tuple(r.tags), r.digest) for r in results},
    )
    return results
