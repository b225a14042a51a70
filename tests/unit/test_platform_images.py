"""Multi-platform images in the release record, the provenance subjects and the SBOM names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from releasekit.build.images import sbom
from releasekit.publish import agreement, platform_images, supply_chain
from releasekit.publish.record import Record

AMD64 = "sha256:" + "a" * 64
ARM64 = "sha256:" + "b" * 64
INDEX = "sha256:" + "c" * 64
REPO = "127.0.0.1:5000/ironcage/agent-runtime"


def _record(platforms: object) -> Record:
    entry = {"repository": REPO, "digest": INDEX, "tags": ["1.0.0"], "platforms": platforms}
    return Record.from_data({"version": "1.0.0", "images": {"agent-runtime": entry}}, {})


@pytest.mark.parametrize(
    "platforms",
    [
        {"linux/arm64": ARM64, "linux/amd64": AMD64},
        [["linux/amd64", AMD64], ["linux/arm64", ARM64]],
    ],
    ids=["mapping", "pairs"],
)
def test_release_json_platforms(platforms: object) -> None:
    image = _record(platforms).images[0]
    assert image.platforms == (("linux/amd64", AMD64), ("linux/arm64", ARM64))
    assert image.platform_ref(ARM64) == f"{REPO}@{ARM64}"


def test_a_single_manifest_has_no_platforms() -> None:
    assert _record(None).images[0].platforms == ()


def test_every_platform_is_a_subject_and_covered() -> None:
    record = _record({"linux/amd64": AMD64, "linux/arm64": ARM64})
    found = {s.name: s.sha256 for s in supply_chain.subjects(record)}
    assert found == {
        REPO: "c" * 64,
        f"{REPO}#linux/amd64": "a" * 64,
        f"{REPO}#linux/arm64": "b" * 64,
    }
    assert set(found) <= agreement.covered(record)


def test_served_platforms_leave_attestation_manifests_out() -> None:
    index = {
        "manifests": [
            {"digest": AMD64, "platform": {"os": "linux", "architecture": "amd64"}},
            {
                "digest": ARM64,
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
            {"digest": INDEX, "platform": {"os": "unknown", "architecture": "unknown"}},
        ]
    }
    assert platform_images.served_platforms(index) == {
        "linux/amd64": AMD64,
        "linux/arm64/v8": ARM64,
    }


def test_sbom_names_per_platform(tmp_path: Path) -> None:
    assert sbom.sbom_name("web", "1.0.0") == "web-1.0.0.cdx.json"
    assert sbom.sbom_name("web", "1.0.0", "linux/arm64") == "web-1.0.0-linux-arm64.cdx.json"
    assert sbom.sbom_path(tmp_path, "web", "1.0.0", "linux/amd64") == (
        tmp_path / "dist" / "1.0.0" / "sbom" / "web-1.0.0-linux-amd64.cdx.json"
    )


def test_the_image_sbom_stands_for_the_platform_it_describes(tmp_path: Path) -> None:
    folder = tmp_path / "dist" / "1.0.0"
    (folder / "sbom").mkdir(parents=True)
    shared = folder / "sbom" / "web-1.0.0.cdx.json"
    hashes = [{"alg": "SHA-256", "content": "d" * 64}]
    shared.write_text(json.dumps({"metadata": {"component": {"hashes": hashes}}}))
    host = platform_images.platform_bom(folder, "web", "1.0.0", "linux/amd64", "sha256:" + "d" * 64)
    other = platform_images.platform_bom(
        folder, "web", "1.0.0", "linux/arm64", "sha256:" + "e" * 64
    )
    assert host == shared
    assert other == folder / "sbom" / "web-1.0.0-linux-arm64.cdx.json"


def test_a_one_platform_image_is_its_own_manifest() -> None:
    from releasekit.publish import oci

    alone = Record.from_data(
        {
            "version": "1.0.0",
            "images": {
                "agent-runtime": {
                    "repository": REPO,
                    "digest": AMD64,
                    "tags": ["1.0.0"],
                    "platforms": {"linux/amd64": AMD64},
                }
            },
        },
        {},
    ).images[0]
    manifest = oci.Manifest(AMD64, "application/vnd.oci.image.manifest.v1+json", {"layers": []})
    assert platform_images.listed(alone, manifest) == {"linux/amd64": AMD64}
    other = oci.Manifest(ARM64, manifest.media_type, {"layers": []})
    assert platform_images.listed(alone, other) == {}
