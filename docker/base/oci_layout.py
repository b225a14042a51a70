#!/usr/bin/env python3
"""Write and read the OCI image layouts of the local base images (standard library only).

    oci_layout.py write DIR --ref REF [--env K=V]... [--cmd JSON] \
        [--docker-save linux/amd64=SAVE.tar] [--layer linux/arm64=ROOTFS.tar]...
    oci_layout.py inspect DIR   # `digest <index digest>`, then `<platform> <config digest>`

`write` makes DIR an OCI image layout whose index.json names one image index (annotated with
REF) that lists one image manifest per platform, and prints that index's digest. A platform
comes from a `docker save` archive of a single-platform image (its config is kept byte for
byte, so the manifest's config digest is the Docker image id) or from a root file system tar
(one gzip layer, a config with the given Env and Cmd). The layout is written beside DIR and
renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
_CHUNK = 1 << 20


class _Blobs:
    def __init__(self, root: Path) -> None:
        self.dir = root / "blobs" / "sha256"
        self.dir.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (self.dir / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data), **extra}

    def put_layer(self, stream: IO[bytes]) -> tuple[dict[str, Any], str]:
        """Gzip ``stream`` (no name, no time: the same tar gives the same blob)."""
        diff = hashlib.sha256()
        with (
            tempfile.NamedTemporaryFile(dir=self.dir, delete=False) as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as packed,
        ):
            while chunk := stream.read(_CHUNK):
                diff.update(chunk)
                packed.write(chunk)
        tmp = Path(raw.name)
        digest = _file_sha256(tmp)
        size = tmp.stat().st_size
        tmp.rename(self.dir / digest)
        return {"mediaType": LAYER_GZIP, "digest": f"sha256:{digest}", "size": size}, (
            f"sha256:{diff.hexdigest()}"
        )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _platform(text: str) -> dict[str, str]:
    os_name, _, arch = text.partition("/")
    if os_name != "linux" or arch not in {"amd64", "arm64"}:
        raise SystemExit(f"oci_layout: unsupported platform {text!r}: linux/amd64 or linux/arm64")
    return {"os": os_name, "architecture": arch}


def _from_docker_save(blobs: _Blobs, archive: Path, platform: dict[str, str]) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        entries = json.loads(_member(tar, "manifest.json"))
        if len(entries) != 1:
            raise SystemExit(f"oci_layout: {archive} holds {len(entries)} images; save exactly one")
        config_bytes = _member(tar, entries[0]["Config"])
        config = json.loads(config_bytes)
        if config.get("architecture") != platform["architecture"]:
            raise SystemExit(
                f"oci_layout: {archive} is a {config.get('architecture')} image, not "
                f"{platform['architecture']}"
            )
        layers = []
        for name in entries[0]["Layers"]:
            member = tar.extractfile(name)
            if member is None:
                raise SystemExit(f"oci_layout: {archive} has no layer {name}")
            layers.append(blobs.put_layer(member)[0])
    return _manifest(blobs, blobs.put(config_bytes, CONFIG), layers, platform)


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    if member is None:
        raise SystemExit(f"oci_layout: {tar.name} has no {name}")
    return member.read()


def _from_rootfs(
    blobs: _Blobs, rootfs: Path, platform: dict[str, str], env: list[str], cmd: list[str]
) -> dict[str, Any]:
    with rootfs.open("rb") as stream:
        layer, diff_id = blobs.put_layer(stream)
    config = {
        **platform,
        "config": {"Env": env, "Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "debootstrap (docker/base/bootstrap.sh)"}],
    }
    return _manifest(blobs, blobs.put(_canonical(config), CONFIG), [layer], platform)


def _manifest(
    blobs: _Blobs, config: dict[str, Any], layers: list[dict[str, Any]], platform: dict[str, str]
) -> dict[str, Any]:
    doc = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": layers}
    return blobs.put(_canonical(doc), MANIFEST, platform=platform)


def write(args: argparse.Namespace) -> str:
    target = Path(args.dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        blobs = _Blobs(work)
        manifests = []
        for spec in args.docker_save:
            platform, _, path = spec.partition("=")
            manifests.append(_from_docker_save(blobs, Path(path), _platform(platform)))
        for spec in args.layer:
            platform, _, path = spec.partition("=")
            cmd = json.loads(args.cmd)
            manifests.append(_from_rootfs(blobs, Path(path), _platform(platform), args.env, cmd))
        if not manifests:
            raise SystemExit("oci_layout: write needs at least one --docker-save or --layer")
        manifests.sort(key=lambda m: m["platform"]["architecture"])
        tag = args.ref.rpartition(":")[2] if ":" in args.ref.rpartition("/")[2] else "latest"
        annotations = {
            "io.containerd.image.name": args.ref,
            "org.opencontainers.image.ref.name": tag,
        }
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}
        top = blobs.put(_canonical(index), INDEX, annotations=annotations)
        (work / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}', encoding="utf-8")
        (work / "index.json").write_bytes(
            _canonical({"schemaVersion": 2, "mediaType": INDEX, "manifests": [top]})
        )
        os.chmod(work, 0o755)  # noqa: S103 - a layout is read by BuildKit and by users
        old = target.with_name(f".{target.name}.old")
        if target.exists():
            target.rename(old)
        work.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return str(top["digest"])


def inspect(layout: Path) -> list[str]:
    top = json.loads((layout / "index.json").read_text(encoding="utf-8"))["manifests"][0]
    lines = [f"digest {top['digest']}"]
    index = json.loads(_blob(layout, top["digest"]))
    for entry in index["manifests"]:
        manifest = json.loads(_blob(layout, entry["digest"]))
        platform = f"{entry['platform']['os']}/{entry['platform']['architecture']}"
        lines.append(f"{platform} {manifest['config']['digest']}")
    return lines


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="oci_layout.py")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("dir")
    w.add_argument("--ref", required=True)
    w.add_argument("--env", action="append", default=[])
    w.add_argument("--cmd", default='["bash"]')
    w.add_argument("--docker-save", action="append", default=[])
    w.add_argument("--layer", action="append", default=[])
    i = sub.add_parser("inspect")
    i.add_argument("dir")
    args = parser.parse_args(argv)
    if args.command == "write":
        print(write(args))
    else:
        try:
            print("\n".join(inspect(Path(args.dir))))
        except (OSError, ValueError, KeyError, IndexError) as exc:
            print(f"oci_layout: {args.dir} is not a readable layout: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
