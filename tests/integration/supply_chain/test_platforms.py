"""A multi-platform image: the index and every platform are signed, attested and verified.

A real buildkitd (started here, its own state) builds one image for linux/amd64 and
linux/arm64 and pushes the OCI index to the session's docker-registry; the release signs the
index and each platform manifest with real cosign, attests each platform's SBOM, and names
each platform in the signed provenance. `invoke verify` checks them all.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from releasekit.deploy import testbed
from releasekit.publish import oci, platform_images, provenance, supply_chain
from tests.integration.buildkitd import running_buildkitd
from tests.integration.supply_chain.conftest import IMAGE, PushImage, Released, delete_tag

pytestmark = pytest.mark.integration

PLATFORMS = ("linux/amd64", "linux/arm64")


@pytest.fixture(scope="module")
def buildkitd(
    tmp_path_factory: pytest.TempPathFactory, registry: testbed.Service
) -> Iterator[tuple[str, str]]:
    """A buildkitd of its own that pushes to the session's registry: (buildctl, address)."""
    with running_buildkitd(tmp_path_factory.mktemp("buildkit"), registry.host) as found:
        yield found


@pytest.fixture
def push_release_image(buildkitd: tuple[str, str], tmp_path: Path) -> PushImage:
    """The image: built by BuildKit for both platforms, pushed as one OCI index."""
    buildctl, address = buildkitd

    def push(host: str, repository: str, tag: str) -> tuple[str, dict[str, str]]:
        context = tmp_path / "context"
        context.mkdir()
        (context / "payload").write_bytes(os.urandom(32))
        (context / "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
        metadata = tmp_path / "metadata.json"
        subprocess.run(
            [buildctl, "--addr", address, "build", "--frontend", "dockerfile.v0",
             "--local", f"context={context}", "--local", f"dockerfile={context}",
             "--opt", f"platform={','.join(PLATFORMS)}",
             "--output", f"type=image,name={host}/{repository}:{tag},push=true,"
             "registry.insecure=true,oci-mediatypes=true",
             "--metadata-file", str(metadata)],
            check=True, capture_output=True,
        )  # fmt: skip
        digest = str(json.loads(metadata.read_text())["containerimage.digest"])
        index = oci.fetch_manifest(host, repository, digest, oci.Access(plain_http=True))
        assert index is not None
        return digest, platform_images.served_platforms(index.body)

    return push


def _rows(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    return {str(row["artifact"]): row for row in json.loads(result.stdout)["rows"]}


def test_the_index_and_every_platform_verify(released: Released) -> None:
    record = supply_chain.release_record(released.folder)
    image = record.images[0]
    host, repository = oci.split_ref(image.repository)
    served = oci.fetch_manifest(host, repository, released.version, oci.Access(plain_http=True))
    assert served is not None and served.digest == image.digest
    assert served.media_type == "application/vnd.oci.image.index.v1+json"
    assert platform_images.served_platforms(served.body) == dict(image.platforms)
    assert tuple(sorted(dict(image.platforms))) == PLATFORMS

    result = released.invoke_verify("--json")
    assert result.returncode == 0, result.stderr
    rows = _rows(result)
    assert rows[IMAGE]["ok"] and rows[IMAGE]["signature"] == "ok"
    for platform, digest in image.platforms:
        row = rows[f"{IMAGE} ({platform})"]
        assert row["digest"] == digest
        assert (row["digest_check"], row["signature"], row["sbom"], row["provenance"]) == (
            "ok",
            "ok",
            "ok",
            "ok",
        )
    subjects = provenance.read(released.folder / provenance.FILENAME).subjects
    assert subjects[image.repository] == image.digest.removeprefix("sha256:")
    for platform, digest in image.platforms:
        name = platform_images.subject_name(image.repository, platform)
        assert subjects[name] == digest.removeprefix("sha256:")


def test_a_missing_platform_signature_is_named(released: Released) -> None:
    image = supply_chain.release_record(released.folder).images[0]
    arm64 = dict(image.platforms)["linux/arm64"]
    host, repository = oci.split_ref(image.repository)
    # cosign keeps a manifest's signature (and attestations) under the tag sha256-<digest>.
    delete_tag(host, repository, f"sha256-{arm64.removeprefix('sha256:')}")

    result = released.invoke_verify()
    assert result.returncode == 11, result.stdout + result.stderr
    # The error lists `artifact (destination): check: why`, one line per failed check.
    lines = [line.strip() for line in result.stderr.splitlines()]
    failed = [line for line in lines if line.startswith(f"{IMAGE}") and ") (" in line]
    ref = f"{image.repository}@{arm64}"
    assert f"{IMAGE} (linux/arm64) ({ref}): signature: " in "\n".join(failed), result.stderr
    assert failed and all(line.startswith(f"{IMAGE} (linux/arm64) (") for line in failed)
