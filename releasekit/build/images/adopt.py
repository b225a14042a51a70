"""The registry's image of this release, adopted in place of a local rebuild.

A re-run of a release (after a crash, on another machine) finds the images it pushed
already in the registry. The classic builder is not reproducible, so building again gives
another image id; what ships is the registry's image, so that one is what the re-run must
start, smoke-test and describe in its SBOM. ``released_image`` asks the registry for
``<repository>:<version>``; when it names an image built from the same commit and inputs
(labels ``org.opencontainers.image.revision`` and ``io.releasekit.inputs``) it is pulled by
digest (unless a local image already has that digest) and returned with the digest. Any
other content under that tag is left to the publish step, which refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from releasekit.build.artifacts import Progress
from releasekit.build.images.spec import INPUTS_LABEL, ImageSpec
from releasekit.core.errors import PreflightError

if TYPE_CHECKING:
    from docker.client import DockerClient
    from docker.models.images import Image

__all__ = ["DEFAULT_NAMESPACE", "REVISION_LABEL", "Adopted", "Source", "released_image"]

REVISION_LABEL = "org.opencontainers.image.revision"
DEFAULT_NAMESPACE = "ironcage"


@dataclass(frozen=True)
class Source:
    """The registry a release publishes its images to: host, namespace and credentials."""

    host: str
    namespace: str = DEFAULT_NAMESPACE
    auth: Mapping[str, str] | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, registry: str, auth: Mapping[str, str] | None = None) -> Source:
        """From ``HOST[:PORT][/NAMESPACE]`` (the target's ``registry``)."""
        value = registry.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        host, _, namespace = value.partition("/")
        if not host or any(c in value for c in " @"):
            raise PreflightError(
                f"Registry {registry!r} is not HOST[:PORT][/NAMESPACE], e.g. 127.0.0.1:5000 or "
                "ghcr.io/ironcage. Pass --registry or set RELEASEKIT_REGISTRY."
            )
        return cls(host, namespace or DEFAULT_NAMESPACE, auth)

    def repository(self, image: str) -> str:
        """``HOST/NAMESPACE/<image>``."""
        return f"{self.host}/{self.namespace}/{image}"


@dataclass(frozen=True)
class Adopted:
    """The registry's image of this release, present locally: the image and its digest."""

    image: Image
    repository: str
    digest: str

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.digest}"


def _remote_digest(client: DockerClient, ref: str, source: Source) -> str | None:
    import docker.errors

    try:
        data = client.images.get_registry_data(ref, auth_config=dict(source.auth or {}) or None)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise PreflightError(
            f"The registry {source.host} cannot be reached or refused the request for {ref}: "
            f"{exc.explanation or exc}. Check that it runs and accepts this engine (plain-HTTP "
            "registries other than 127.0.0.1 must be in dockerd's insecure-registries), then "
            "run the release again."
        ) from None
    return str(data.id)


def _local_with_digest(client: DockerClient, ref: str) -> Image | None:
    import docker.errors

    try:
        return client.images.get(ref)
    except (docker.errors.ImageNotFound, docker.errors.NullResource):
        return None
    except docker.errors.APIError:
        return None


def released_image(
    client: DockerClient,
    source: Source,
    spec: ImageSpec,
    version: str,
    *,
    revision: str,
    inputs: str,
    progress: Progress | None = None,
) -> Adopted | None:
    """The registry's ``<spec>:<version>`` when it is this release's, local; None else.

    "This release's" means labelled with ``revision`` and ``inputs``. The image is pulled by
    digest when no local image has that digest yet.
    """
    import docker.errors

    say = progress or (lambda _msg: None)
    repository = source.repository(spec.name)
    digest = _remote_digest(client, f"{repository}:{version}", source)
    if digest is None:
        return None
    ref = f"{repository}@{digest}"
    image = _local_with_digest(client, ref)
    if image is None:
        say(f"image:{spec.name} pulling {ref} (the registry already holds {version})")
        try:
            image = client.images.pull(ref, auth_config=dict(source.auth or {}) or None)
        except docker.errors.APIError as exc:
            raise PreflightError(
                f"The registry {source.host} holds {repository}:{version} as {digest}, but "
                f"pulling {ref} failed: {exc.explanation or exc}. Check the registry and its "
                "credentials, then run the release again."
            ) from None
    labels = image.labels or {}
    if labels.get(REVISION_LABEL) != revision or labels.get(INPUTS_LABEL) != inputs:
        say(
            f"image:{spec.name} {repository}:{version} in the registry is not built from this "
            "commit and inputs"
        )
        return None
    return Adopted(image, repository, digest)
