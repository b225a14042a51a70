"""Push the built images to a registry, idempotently, and record their digests.

For each image the registry is asked first (through the engine, so its credentials and
insecure-registry settings apply). The exact version tag already there is accepted when it
is this release: the local image itself, or an image of the same commit and inputs (labels
revision and ``io.releasekit.inputs``), so a re-run on another machine publishes nothing
new; any other content is a ConflictError, since a release never changes what a version
names. The moving tags (X.Y, X, latest, sha-...) then follow the version tag's digest; the
version tag is always pushed first. ``dist/<version>/images.json`` is written (atomically)
only once every push succeeded. The image pushed is the one the build recorded for this
version (``build/images/<image>.json``: the image it smoke-tested and described), not
whatever the local tag names by then; without a record, the local tag.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from releasekit.build import artifacts
from releasekit.build.artifacts import Progress
from releasekit.build.images.adopt import DEFAULT_NAMESPACE, Source
from releasekit.build.images.spec import INPUTS_LABEL, ImageSpec, connect, specs, tags_for
from releasekit.core import git
from releasekit.core.artifact import IMAGES_FILE, ImagePin, write_images
from releasekit.core.errors import ConflictError, PreflightError, PublishError
from releasekit.core.workspace import Workspace

if TYPE_CHECKING:
    from docker.client import DockerClient
    from docker.models.images import Image

__all__ = [
    "DEFAULT_NAMESPACE",
    "PushResult",
    "push_images",
    "push_tag",
    "remote_digest",
    "split_registry",
]

_LABEL_REVISION = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class PushResult:
    """One image after a push: where it went, its tags, digest and whether anything moved."""

    name: str
    repository: str
    tags: tuple[str, ...]
    digest: str
    status: Literal["pushed", "up to date"]


def split_registry(registry: str) -> tuple[str, str]:
    """``HOST[:PORT][/NAMESPACE]`` -> (host, namespace); the namespace defaults to ironcage."""
    try:
        source = Source.parse(registry)
    except PreflightError as exc:
        raise PublishError(str(exc)) from None
    return source.host, source.namespace


def _recorded_id(root: Path, spec: ImageSpec, version: str) -> str | None:
    """The image id the build recorded for ``spec`` at ``version``, None without a record."""
    try:
        data = json.loads((root / "build" / "images" / f"{spec.name}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return str(data["id"]) if data.get("version") == version and data.get("id") else None


def _local_image(client: DockerClient, spec: ImageSpec, version: str, root: Path) -> Image:
    import docker.errors

    ref = f"{spec.repository}:{version}"
    with contextlib.suppress(docker.errors.ImageNotFound):
        recorded = _recorded_id(root, spec, version)
        if recorded:
            return client.images.get(recorded)
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        raise PublishError(
            f"The image {ref} does not exist locally, so it cannot be pushed. Build it first: "
            "`invoke build.images`."
        ) from None


def _tags(image: Image, spec: ImageSpec, version: str, released: Sequence[str]) -> list[str]:
    """The version's tags, plus the sha tag of the commit it was built at (and any others)."""
    labels = image.labels or {}
    revision = str(labels.get(_LABEL_REVISION, ""))
    tags = tags_for(version, revision[:7] if len(revision) >= 7 else None, released)
    for ref in image.tags:
        repo, _, tag = ref.rpartition(":")
        if repo == spec.repository and tag.startswith("sha-") and tag not in tags:
            tags.append(tag)
    return tags


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


def _same_release(
    client: DockerClient, image: Image, repository: str, digest: str, auth: Mapping[str, str] | None
) -> Any | None:
    """The registry's image at ``digest`` when it is this release (else None).

    Its config digest equals the local image id (pushed from here), or it was built from
    the same commit and the same inputs (labels revision and inputs): a re-run on a machine
    that never built it recognises it and publishes nothing new.
    """
    import docker.errors

    if digest in {d.partition("@")[2] for d in image.attrs.get("RepoDigests") or []}:
        return image
    try:
        theirs = client.images.pull(f"{repository}@{digest}", auth_config=dict(auth or {}) or None)
    except docker.errors.APIError:
        return None
    if theirs.id == image.id:
        return image
    ours_labels, their_labels = image.labels or {}, theirs.labels or {}
    keys = (_LABEL_REVISION, INPUTS_LABEL)
    if all(ours_labels.get(k) and ours_labels.get(k) == their_labels.get(k) for k in keys):
        return theirs
    return None


def _push_image(
    root: Path,
    client: DockerClient,
    spec: ImageSpec,
    version: str,
    host: str,
    namespace: str,
    auth: Mapping[str, str] | None,
    say: Progress,
    released: Sequence[str] = (),
    layers: bool = False,
) -> PushResult:
    image = _local_image(client, spec, version, root)
    repository = f"{host}/{namespace}/{spec.name}"
    tags = _tags(image, spec, version, released)
    digest = remote_digest(client, f"{repository}:{version}", auth, host) or ""
    if digest:
        same = _same_release(client, image, repository, digest, auth)
        if same is None:
            raise ConflictError(
                f"{repository}:{version} already exists in {host} with digest {digest}, which "
                f"is not the local image {image.id} nor built from the same commit and inputs. "
                "A version is never pushed twice with different content: bump the version "
                "(`invoke version.bump`) and release that."
            )
        image = same
        say(f"{repository}:{version} already at {digest}")
    to_push: list[str] = []
    for tag in tags:
        if tag == version and digest:
            continue
        remote = remote_digest(client, f"{repository}:{tag}", auth, host)
        if remote is not None and remote == digest:
            say(f"{repository}:{tag} already at {remote}")
            continue
        to_push.append(tag)
    for tag in [t for t in to_push if t == version] + [t for t in to_push if t != version]:
        image.tag(repository, tag)
        pushed = push_tag(client, repository, tag, auth, say, layers)
        if digest and pushed != digest:
            raise PublishError(
                f"{repository}:{tag} was pushed as {pushed}, but the other tags of the same "
                f"image name {digest}. Push again; if it persists, the registry rewrites "
                "manifests."
            )
        digest = pushed
        say(f"{repository}:{tag} pushed {pushed}")
    if to_push:
        check = remote_digest(client, f"{repository}:{version}", auth, host)
        if check != digest:
            raise PublishError(
                f"The registry {host} reports {check} for {repository}:{version} right after "
                f"the push answered {digest}. Push again."
            )
    return PushResult(
        spec.name, repository, tuple(tags), digest, "pushed" if to_push else "up to date"
    )


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
) -> list[PushResult]:
    """Push every tag of the images of ``packages`` (default all) to ``registry``.

    ``progress`` hears one line per tag, and one per layer with ``layers`` (``--verbose``).

    ``registry`` is ``HOST[:PORT][/NAMESPACE]`` (namespace default ``ironcage``); ``auth``
    is a docker auth config (``username``, ``password``) for registries that need one.
    Writes ``dist/<version>/images.json`` ({image: {tags, digest, repository}}) after the
    last push succeeded, keeping the entries of images not pushed this time (in ``folder``
    instead, the release's folder, when given).
    """
    say = progress or (lambda _msg: None)
    host, namespace = split_registry(registry)
    client = client or connect()
    if released is None:
        released = git.released_versions(ws.root)
    results = [
        _push_image(ws.root, client, spec, version, host, namespace, auth, say, released, layers)
        for spec in specs(ws, packages, images)
    ]
    write_images(
        (folder or artifacts.dist_dir(ws, version)) / IMAGES_FILE,
        {r.name: ImagePin(r.repository, tuple(r.tags), r.digest) for r in results},
    )
    return results
