"""A local base as an OCI layout: a Docker image and an arm64 root, one index BuildKit builds on.

docker/base/oci_layout.py writes the layout the way docker/base/bootstrap.sh does (the
Docker Engine image for linux/amd64, a root file system tar for linux/arm64);
``bases.local_base`` reads it back through the record, and a real buildkitd builds an image
for both platforms on it as a named context, each platform on its own root.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from releasekit.build.images import bases
from tests.conftest import REPO, require
from tests.integration.buildkitd import running_buildkitd

pytestmark = pytest.mark.integration

SCRIPT = REPO / "docker" / "base" / "oci_layout.py"


def _rootfs(path: Path, arch: str) -> Path:
    data = f"{arch}\n".encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("etc/base-arch")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_a_docker_image_and_an_arm64_root_make_a_layout_buildkit_builds_on(
    tmp_path: Path,
) -> None:
    docker = require("docker")
    ref = f"releasekit-test/base:{os.getpid()}"
    amd64, arm64 = (
        _rootfs(tmp_path / "amd64.tar", "amd64"),
        _rootfs(tmp_path / "arm64.tar", "arm64"),
    )
    subprocess.run([docker, "import", str(amd64), ref], check=True, capture_output=True)
    try:
        image_id = subprocess.run(
            [docker, "image", "inspect", "-f", "{{.Id}}", ref],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        saved = tmp_path / "save.tar"
        subprocess.run([docker, "save", ref, "-o", str(saved)], check=True, capture_output=True)
    finally:
        subprocess.run([docker, "rmi", ref], check=False, capture_output=True)
    environ = {bases.RECORD_ENV: str(tmp_path / "record")}
    layout = bases.layout_path(ref, environ)
    digest = subprocess.run(
        [sys.executable, str(SCRIPT), "write", str(layout), "--ref", ref,
         "--docker-save", f"linux/amd64={saved}", "--layer", f"linux/arm64={arm64}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (tmp_path / "record").write_text(f"{ref} {image_id}\noci:{ref} {digest}\n")

    base = bases.local_base(ref, environ)
    assert base is not None and base.digest == digest
    assert base.platforms == ("linux/amd64", "linux/arm64")
    listed = subprocess.run(
        [sys.executable, str(SCRIPT), "inspect", str(layout)],
        check=True, capture_output=True, text=True,
    ).stdout.split("\n")  # fmt: skip
    assert f"linux/amd64 {image_id}" in listed  # the Docker image, byte for byte

    context = tmp_path / "context"
    context.mkdir()
    (context / "payload").write_text("built on the local base\n")
    (context / "Dockerfile").write_text(f"FROM {ref}\nCOPY payload /payload\n")
    out = tmp_path / "out"
    with running_buildkitd(tmp_path / "buildkit") as (buildctl, address):
        subprocess.run(
            [buildctl, "--addr", address, "build", "--frontend", "dockerfile.v0",
             "--local", f"context={context}", "--local", f"dockerfile={context}",
             "--oci-layout", f"base={base.layout}",
             "--opt", f"context:{ref}=oci-layout://base@{base.digest}",
             "--opt", "platform=linux/amd64,linux/arm64",
             "--output", f"type=local,dest={out}"],
            check=True, capture_output=True,
        )  # fmt: skip
    for arch in ("amd64", "arm64"):
        assert (out / f"linux_{arch}" / "etc" / "base-arch").read_text() == f"{arch}\n"
        assert (out / f"linux_{arch}" / "payload").read_text() == "built on the local base\n"
