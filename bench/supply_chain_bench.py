"""Supply-chain benchmark: sign, attest and verify one release's images and charts.

    .venv/bin/python bench/supply_chain_bench.py

Starts its own docker-registry on a free port (no Docker engine needed), pushes as many
one-layer images as the release has (agent-runtime, control-panel-api, control-panel-web,
marketing-site) and both charts (`helm package` + `helm push`), makes a key pair, then
times: the first signing (a signature per image and chart, an SBOM attestation per image,
the signed provenance), a second signing (everything already there: the idempotent path
a resumed release takes) and the verification at the destinations. Everything lives in a
temporary folder and the registry is stopped at the end.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from releasekit.build import checksums  # noqa: E402
from releasekit.deploy import testbed  # noqa: E402
from releasekit.publish import charts, oci, signing, supply_chain  # noqa: E402
from releasekit.publish.verify import failures, verify_release  # noqa: E402

IMAGES = ("agent-runtime", "control-panel-api", "control-panel-web", "marketing-site")
VERSION = "97.0.0"
T = TypeVar("T")


def _push_image(host: str, repository: str, tag: str) -> str:
    """A one-layer OCI image with random content; its manifest digest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = os.urandom(4096)
        info = tarfile.TarInfo("payload")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{_sha(raw.getvalue())}"]},
        }
    ).encode()
    base = f"http://{host}/v2/{repository}"
    for blob in (config, layer):
        start = requests.post(f"{base}/blobs/uploads/", timeout=10)
        location = start.headers["Location"]
        location = f"http://{host}{location}" if location.startswith("/") else location
        sep = "&" if "?" in location else "?"
        requests.put(f"{location}{sep}digest=sha256:{_sha(blob)}", data=blob, timeout=10)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{_sha(config)}",
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": f"sha256:{_sha(layer)}",
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    requests.put(f"{base}/manifests/{tag}", data=body, headers=headers, timeout=10)
    return f"sha256:{_sha(body)}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _timed(label: str, fn: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = fn()
    print(f"{label:<34} {time.perf_counter() - started:6.2f} s")
    return result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="supply-chain-bench-") as tmp:
        home = Path(tmp)
        registry = testbed.start_registry(home / "registry")
        try:
            folder = home / "dist" / VERSION
            (folder / "sbom").mkdir(parents=True)
            images = {}
            for name in IMAGES:
                repository = f"{registry.host}/ironcage/{name}"
                digest = _push_image(registry.host, f"ironcage/{name}", VERSION)
                images[name] = {"repository": repository, "digest": digest, "tags": [VERSION]}
                bom = {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1}
                (folder / "sbom" / f"{name}-{VERSION}.cdx.json").write_text(json.dumps(bom))
            chart_registry = f"oci://{registry.host}/charts"
            pushed = {}
            shutil.copytree(ROOT / "helm", home / "helm")
            for archive in charts.package(home, VERSION, epoch=0):  # home/dist/VERSION/charts
                ref = charts.push(archive, chart_registry).ref
                pushed[archive.name] = {"ref": ref, "sha256": _sha(archive.read_bytes())}
            checksums.write(folder)
            key_path, public, password = signing.ensure_key_pair(home / "keys")
            key = signing.SigningKey(str(key_path), public, password)
            files = checksums.parse(folder / checksums.FILENAME)
            record = supply_chain.Record.from_data(
                {"version": VERSION, "commit": "0" * 40, "images": images, "charts": pushed},
                files,
            )
            how = oci.Access(plain_http=True)
            print(f"{len(IMAGES)} images, {len(pushed)} charts, {len(files)} files")
            signed = _timed(
                "sign + attest + provenance",
                lambda: supply_chain.sign_release(folder, record, key, how, {}),
            )
            _timed(
                "sign again (all already there)",
                lambda: supply_chain.sign_release(folder, record, key, how, {}),
            )
            charts_done = signed.charts
            full = supply_chain.Record.from_data(
                {"version": VERSION, "images": images, "charts": charts_done},
                checksums.parse(folder / checksums.FILENAME),
            )
            rows = _timed("verify at the destinations", lambda: verify_release(
                full, folder, public, how, f"{registry.url}/simple"
            ))  # fmt: skip
            problems = failures(rows)
            print("verify:", problems or "ok")
        finally:
            testbed.stop(registry)


if __name__ == "__main__":
    main()
