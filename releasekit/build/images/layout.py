"""OCI image layouts: what one holds, and a local base image as one for BuildKit.

BuildKit cannot read Docker Engine's image store, so a base image it builds on is given as
an OCI layout directory (``--oci-layout``, a named context). ``base_layout`` returns the
layout of a base: a local base's recorded layout (``bases.local_base``, every platform the
bootstrap made); a base without one (a public base pulled, or one named in the
environment) is written from the Docker engine's image (``docker save``, its one
platform), cached by image id under ``~/.cache/releasekit/base-layouts/<id>/``.

``read_index`` reads a layout's top index: the digest a tag names and, per platform, the
manifest digest and the config digest (the id Docker Engine gives the image when loaded).
``docker_archive`` writes one platform's image of a layout as an archive ``docker load``
reads, its blobs as they are (Docker Engine unpacks compressed layers itself).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from releasekit.build.images import bases
from releasekit.build.images.bases import LocalBase
from releasekit.core.errors import PreflightError

if TYPE_CHECKING:
    from docker.client import DockerClient

__all__ = [
    "Index",
    "LocalBase",
    "PlatformImage",
    "base_cache",
    "base_layout",
    "docker_archive",
    "read_index",
]

_INDEX = "application/vnd.oci.image.index.v1+json"
_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_CONFIG = "application/vnd.oci.image.config.v1+json"
_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class PlatformImage:
    """One platform of an index: its manifest digest and its config digest."""

    platform: str
    manifest: str
    config: str


@dataclass(frozen=True)
class Index:
    """The top of an OCI layout: the digest of its index and the image of each platform."""

    digest: str
    images: tuple[PlatformImage, ...]

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(i.platform for i in self.images)


def _blob(layout: Path, digest: str) -> dict[str, Any]:
    algo, _, hexa = digest.partition(":")
    return cast(dict[str, Any], json.loads((layout / "blobs" / algo / hexa).read_bytes()))


def _platform(item: dict[str, Any]) -> str:
    plat = item.get("platform") or {}
    name = f"{plat.get('os', '')}/{plat.get('architecture', '')}"
    return f"{name}/{plat['variant']}" if plat.get("variant") else name


def read_index(layout: Path) -> Index:
    """The image of an OCI layout (its one top-level entry, an index or one manifest)."""
    top = json.loads((layout / "index.json").read_text(encoding="utf-8"))
    entries = [m for m in top.get("manifests", []) if "attestation" not in json.dumps(m)]
    if not entries:
        raise PreflightError(f"{layout}/index.json names no image: write the layout again.")
    entry = entries[-1]
    digest = str(entry["digest"])
    if entry.get("mediaType") == _INDEX:
        children = [
            m
            for m in _blob(layout, digest).get("manifests", [])
            if _platform(m) != "unknown/unknown"
        ]
    else:
        children = [entry]
    images = []
    for child in children:
        manifest = _blob(layout, str(child["digest"]))
        config = str(manifest["config"]["digest"])
        name = _platform(child)
        if name == "/":
            data = _blob(layout, config)
            name = f"{data.get('os', 'linux')}/{data.get('architecture', '')}"
        images.append(PlatformImage(name, str(child["digest"]), config))
    return Index(digest, tuple(images))


def _blob_path(digest: str) -> str:
    algo, _, hexa = digest.partition(":")
    return f"blobs/{algo}/{hexa}"


def docker_archive(layout: Path, config: str, name: str, dest: Path) -> bool:
    """Write the image of ``layout`` whose config digest is ``config`` to ``dest`` as a
    Docker archive tagged ``name``; False (nothing written) when the layout lacks it."""
    try:
        found = [i for i in read_index(layout).images if i.config == config]
        layers = [str(item["digest"]) for item in _blob(layout, found[0].manifest)["layers"]]
    except (OSError, ValueError, KeyError, IndexError, TypeError, PreflightError):
        return False
    entry = {
        "Config": _blob_path(config),
        "RepoTags": [name],
        "Layers": [_blob_path(digest) for digest in layers],
    }
    data = json.dumps([entry]).encode()
    with tarfile.open(dest, "w") as tar:
        for digest in dict.fromkeys([config, *layers]):
            tar.add(layout / _blob_path(digest), arcname=_blob_path(digest))
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return True


def _write_blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"sha256:{digest}", len(data)


def _from_docker(client: DockerClient, ref: str, image_id: str, dest: Path) -> None:
    """Write the Docker engine's image ``ref`` as a one-platform OCI layout at ``dest``."""
    work = dest.with_name(dest.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    (work / "blobs" / "sha256").mkdir(parents=True)
    saved = work / "saved.tar"
    with saved.open("wb") as handle:
        for chunk in client.images.get(image_id).save(named=False):
            handle.write(chunk)
    with tarfile.open(saved) as tar:
        entry = json.load(cast(io.BufferedReader, tar.extractfile("manifest.json")))[0]
        config_bytes = cast(io.BufferedReader, tar.extractfile(entry["Config"])).read()
        layers = []
        for name in entry["Layers"]:
            member = cast(io.BufferedReader, tar.extractfile(name))
            hasher, target = hashlib.sha256(), work / "layer.tmp"
            with target.open("wb") as out:
                while chunk := member.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
            blob = work / "blobs" / "sha256" / hasher.hexdigest()
            target.replace(blob)
            layers.append({"mediaType": _LAYER, "digest": f"sha256:{blob.name}",
                           "size": blob.stat().st_size})  # fmt: skip
    saved.unlink()
    config = json.loads(config_bytes)
    config_digest, config_size = _write_blob(work, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": _MANIFEST,
        "config": {"mediaType": _CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers,
    }
    digest, size = _write_blob(work, json.dumps(manifest, separators=(",", ":")).encode())
    plat = {"architecture": config.get("architecture", "amd64"), "os": config.get("os", "linux")}
    index = {
        "schemaVersion": 2,
        "mediaType": _INDEX,
        "manifests": [{"mediaType": _MANIFEST, "digest": digest, "size": size, "platform": plat}],
    }
    index_digest, index_size = _write_blob(work, json.dumps(index, separators=(",", ":")).encode())
    top = {
        "schemaVersion": 2,
        "mediaType": _INDEX,
        "manifests": [{"mediaType": _INDEX, "digest": index_digest, "size": index_size,
                       "annotations": {"org.opencontainers.image.ref.name": ref}}],
    }  # fmt: skip
    (work / "index.json").write_text(json.dumps(top), encoding="utf-8")
    (work / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}', encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)
    work.rename(dest)


def base_cache() -> Path:
    """Where layouts written from Docker engine images are kept, by image id."""
    return Path.home() / ".cache" / "releasekit" / "base-layouts"


def base_layout(client: DockerClient, ref: str, image_id: str, cache: Path) -> LocalBase:
    """The OCI layout of the base ``ref`` (Docker engine image ``image_id``).

    A local base's recorded layout (PreflightError when it no longer names the recorded
    index); else the engine's image written as a layout of its one platform.
    """
    found = bases.local_base(ref)
    if found is not None:
        return found
    dest = cache / image_id.replace(":", "-")
    if not (dest / "index.json").is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        _from_docker(client, ref, image_id, dest)
    index = read_index(dest)
    return LocalBase(ref, dest, index.digest, index.platforms)
