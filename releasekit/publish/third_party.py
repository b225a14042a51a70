"""Third-party images ([[third_party]] of release.toml) in the target's registry, by digest.

A chart may run an image the monorepo does not build (the agent-runtime chart's Redis). It
runs from the target's registry, pinned by digest, never by a moving tag:
``<registry>/<name>@<digest>``. For a real target the digest is the one release.toml pins
(the source's), and the image must be there before anything deploys it (copied with a tool
that keeps the digest, `crane copy` or `skopeo copy --all`): ``missing`` names those that
are not, and ``require`` (every deploy) refuses them. The sandbox cannot pull from the
source, so ``provide`` pushes the image release.toml names as ``local`` and pins the digest
its registry serves: from its recorded OCI layout (``docker/base/bootstrap.sh`` writes one)
as its bytes are, when that holds this machine's platform, else with ``docker push``.
``third-party.json`` in ``dist/<version>/`` records the pins a release deploys ({name:
{source, origin, repository, digest, pinned, local}}).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from releasekit.build.images import bases, buildkit
from releasekit.build.images.spec import connect
from releasekit.core import files, manifest
from releasekit.core.artifact import Artifact
from releasekit.core.errors import ManifestError, PreflightError
from releasekit.core.manifest import ThirdPartyImage
from releasekit.publish import oci
from releasekit.publish.registry import push_tag, remote_digest, split_registry
from releasekit.publish.targets import Target

if TYPE_CHECKING:
    from docker.client import DockerClient

__all__ = [
    "SANDBOX_TAG",
    "THIRD_PARTY_FILE",
    "ThirdPartyPin",
    "copy_hint",
    "declared",
    "dependencies",
    "entry",
    "missing",
    "pins_of",
    "provide",
    "read",
    "require",
    "write",
]

THIRD_PARTY_FILE = "third-party.json"
SANDBOX_TAG = "sandbox"


@dataclass(frozen=True)
class ThirdPartyPin:
    """A third-party image as a release runs it: from ``repository`` at ``digest``.

    ``pinned`` is release.toml's digest of ``source``; it equals ``digest`` except in the
    sandbox, which runs its ``local`` stand-in.
    """

    name: str
    source: str
    origin: str
    repository: str
    digest: str
    pinned: str
    local: str = ""

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.digest}"

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if k != "name" and v}

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> ThirdPartyPin:
        return cls(
            name,
            str(data["source"]),
            str(data.get("origin", "")),
            str(data["repository"]),
            str(data["digest"]),
            str(data.get("pinned") or data["digest"]),
            str(data.get("local", "")),
        )


def declared(root: Path) -> tuple[ThirdPartyImage, ...]:
    """The [[third_party]] images of release.toml at ``root`` (none without a manifest)."""
    if not (root / manifest.MANIFEST_NAME).is_file():
        return ()
    return manifest.load(root).third_party


def _repository(target: Target, image: ThirdPartyImage) -> str:
    host, namespace = split_registry(target.registry)
    return f"{host}/{namespace}/{image.name}"


def _push_local(
    client: DockerClient, image: ThirdPartyImage, repository: str, say: Callable[[str], None]
) -> str:
    """Push the sandbox's stand-in of ``image``; the digest the registry serves."""
    import docker.errors

    try:
        local = client.images.get(image.local)
    except docker.errors.ImageNotFound:
        raise PreflightError(
            f"The sandbox runs {image.source} as the local image {image.local} "
            f"([[third_party]] `{image.name}` of release.toml), which does not exist. Build it "
            "with `sudo docker/base/bootstrap.sh`, then run the release again."
        ) from None
    host = repository.split("/", 1)[0]
    served = remote_digest(client, f"{repository}:{SANDBOX_TAG}", None, host)
    if served and f"{repository}@{served}" in (local.attrs.get("RepoDigests") or []):
        say(f"{repository}:{SANDBOX_TAG} already at {served}")
        return served
    local.tag(repository, SANDBOX_TAG)
    pushed = push_tag(client, repository, SANDBOX_TAG, None, say)
    say(f"{repository}:{SANDBOX_TAG} pushed {pushed} (stand-in of {image.source})")
    return pushed


def _push_layout(
    local: bases.LocalBase, repository: str, how: oci.Access, say: Callable[[str], None]
) -> str:
    """Upload the stand-in's OCI layout as it is; the digest (the layout's index)."""
    host, path = oci.split_ref(repository)
    served = oci.fetch_manifest(host, path, SANDBOX_TAG, how)
    if served is not None and served.digest == local.digest:
        say(f"{repository}:{SANDBOX_TAG} already at {local.digest}")
        return local.digest
    pushed = oci.push_layout(host, path, local.layout, local.digest, SANDBOX_TAG, how)
    say(f"{repository}:{SANDBOX_TAG} pushed {pushed} from {local.layout} (stand-in of {local.ref})")
    return pushed


def _present(pin: ThirdPartyPin, how: oci.Access) -> bool:
    host, path = oci.split_ref(pin.repository)
    return oci.fetch_manifest(host, path, pin.digest, how) is not None


def copy_hint(pin: ThirdPartyPin) -> str:
    """How to put ``pin`` into its registry keeping the digest."""
    source = f"{pin.source.rsplit(':', 1)[0]}@{pin.pinned}"
    return f"`crane copy {source} {pin.ref}` (or `skopeo copy --all`)"


def _access(target: Target) -> oci.Access:
    return oci.Access(target.plain_http, target.registry_username, target.registry_password)


def provide(
    root: Path,
    target: Target,
    *,
    client: DockerClient | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> list[ThirdPartyPin]:
    """The pin of every third-party image in ``target``'s registry (the sandbox's pushed)."""
    images = declared(root)
    pins: list[ThirdPartyPin] = []
    for image in images:
        repository = _repository(target, image)
        digest = image.digest
        if target.kind == "sandbox":
            if not image.local:
                raise ManifestError(
                    f"{root / manifest.MANIFEST_NAME}: [[third_party]] `{image.name}` names no "
                    f"`local` image, and the sandbox cannot pull {image.source}. Add "
                    '`local = "<image>"` naming the local image that stands in for it.'
                )
            local = bases.local_base(image.local)
            if local is not None and buildkit.host_platform() in local.platforms:
                digest = _push_layout(local, repository, _access(target), say)
            else:
                client = client or connect()
                digest = _push_local(client, image, repository, say)
        pin = ThirdPartyPin(
            image.name, image.source, image.origin, repository, digest, image.digest, image.local
        )
        pins.append(pin)
    return pins


def missing(pins: Iterable[ThirdPartyPin], target: Target) -> list[ThirdPartyPin]:
    """The pins ``target``'s registry does not hold by their digest."""
    how = _access(target)
    return [pin for pin in pins if not _present(pin, how)]


def require(pins: Iterable[ThirdPartyPin], target: Target) -> None:
    """PreflightError unless the target's registry holds every pin by its digest."""
    for pin in missing(pins, target):
        raise PreflightError(
            f"The registry {pin.repository.split('/', 1)[0]} does not hold {pin.ref}, the "
            f"third-party image `{pin.name}` of release.toml ({pin.source} pinned at "
            f"{pin.pinned}), so nothing may deploy it. Copy it there keeping its digest: "
            f"{copy_hint(pin)}, then run again."
        )


def write(path: Path, pins: Iterable[ThirdPartyPin]) -> Path:
    """Write ``third-party.json`` (sorted by name)."""
    data = {p.name: p.to_json() for p in sorted(pins, key=lambda p: p.name)}
    files.write_json(path, data)
    return path


def read(path: Path) -> dict[str, ThirdPartyPin]:
    """The pins in ``third-party.json`` at ``path``; ManifestError naming it when malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: ThirdPartyPin.from_json(name, e) for name, e in sorted(data.items())}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(
            f"{path} is not a third-party record {{name: {{source, repository, digest}}}} "
            f"({exc.__class__.__name__}: {exc}). Publish the images again to rewrite it."
        ) from None


def entry(artifact: Artifact, image: ThirdPartyImage) -> dict[str, str]:
    """The release record's entry of a recorded third-party image (see ``ThirdPartyPin``)."""
    return ThirdPartyPin(
        image.name,
        image.source,
        image.origin,
        artifact.destination,
        artifact.digest,
        image.digest,
        image.local,
    ).to_json()


def dependencies(entries: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """SLSA resolvedDependencies of the third-party images of a release record."""
    found = []
    for name, entry in sorted(entries.items()):
        pin = ThirdPartyPin.from_json(name, entry)
        found.append(
            {
                "name": name,
                "uri": f"docker-image://{pin.repository}",
                "digest": {"sha256": pin.digest.removeprefix("sha256:")},
                "annotations": {
                    "source": f"{pin.source}@{pin.pinned}",
                    "origin": pin.origin,
                    **({"local": pin.local} if pin.local else {}),
                },
            }
        )
    return found


def pins_of(root: Path, version: str, target: Target) -> list[ThirdPartyPin]:
    """The pins a deploy of ``version`` runs: its release's third-party.json, else provided."""
    recorded = root / "dist" / version / THIRD_PARTY_FILE
    if recorded.is_file():
        return list(read(recorded).values())
    return provide(root, target)
