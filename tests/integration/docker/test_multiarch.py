"""Multi-arch: one OCI index with linux/amd64 and linux/arm64, arm64 started under QEMU."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from releasekit.build import images
from releasekit.core import manifest, workspace
from releasekit.deploy import testbed
from releasekit.publish import oci
from tests.conftest import narrow_platforms
from tests.integration.docker.conftest import Built

pytestmark = pytest.mark.integration

BINFMT = Path("/proc/sys/fs/binfmt_misc")
IMAGE = "marketing-site"


def _register_qemu() -> None:
    """Register QEMU's arm64 handler as scripts/setup.sh does, when root and not done yet."""
    if (BINFMT / "qemu-aarch64").exists() or os.geteuid() != 0:
        return
    if not (BINFMT / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=False)
    rule = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")
    if rule.is_file() and (BINFMT / "register").exists():
        (BINFMT / "register").write_text(rule.read_text().strip())


def test_one_index_holds_both_platforms_and_arm64_answers_under_qemu(
    built: Built, client: Any, registry: testbed.Service, tmp_path: Path
) -> None:
    _register_qemu()
    root = tmp_path / "repo"
    shutil.copytree(built.ws.root, root, ignore=shutil.ignore_patterns("dist", "build"))
    narrow_platforms(root, '["linux/amd64", "linux/arm64"]')
    ws = workspace.load(manifest.load(root))
    source = images.Source(registry.host, "multiarch")
    (result,) = images.build_images(
        ws, built.version, images=[IMAGE], client=client, registry=source
    )
    platforms = dict(result.platforms)
    if "linux/arm64" not in platforms:
        pytest.fail(
            "arm64 cannot be built here: QEMU's binfmt handler is missing or a base image "
            "lacks linux/arm64 (scripts/setup.sh registers QEMU and bootstraps both bases)"
        )
    assert sorted(platforms) == ["linux/amd64", "linux/arm64"]
    index = oci.fetch_manifest(
        registry.host, f"multiarch/{IMAGE}", result.digest, oci.Access(plain_http=True)
    )
    assert index is not None and index.media_type.endswith("image.index.v1+json")
    listed = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in index.body["manifests"]
    }
    assert listed == platforms
    print(f"multiarch index {result.digest}: {platforms}")
    arm_bom = images.sbom_path(root, IMAGE, built.version, "linux/arm64")
    assert arm_bom in result.outputs and arm_bom.is_file()
    assert images.subject_id(arm_bom) != images.subject_id(result.sbom)

    spec = images.specs(ws, images=[IMAGE])
    planned = images.plan(ws, built.version, spec, client, registry=source)
    smoked = {s.platform: s for s in images.smoke_platforms(ws, planned, spec[0], client)}
    assert not smoked["linux/arm64"].cached
    assert "healthy" in smoked["linux/arm64"].checks
    arm = client.images.get(f"ironcage/{IMAGE}:{built.version}-arm64")
    assert arm.attrs["Architecture"] == "arm64"
    # A re-run of the same digests starts no container: each platform already passed.
    again = {s.platform: s for s in images.smoke_platforms(ws, planned, spec[0], client)}
    assert all(s.cached for s in again.values())
    assert {p: s.digest for p, s in again.items()} == platforms
