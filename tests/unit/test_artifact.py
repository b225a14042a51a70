from __future__ import annotations

import json
from pathlib import Path

import pytest

from releasekit.core.artifact import (
    Artifact,
    ImagePin,
    Registry,
    kind_of,
    read_images,
    write_images,
)
from releasekit.core.errors import ManifestError

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("rel", "kind"),
    [
        ("python/demo_core-1.0.0-py3-none-any.whl", "wheel"),
        ("python/demo_core-1.0.0.tar.gz", "sdist"),
        ("bin/ironcage-1.0.0-linux-x86_64", "binary"),
        ("site/marketing-site-1.0.0.tar.gz", "site"),
        ("sbom/demo-core-1.0.0.cdx.json", "sbom"),
        ("SHA256SUMS", "checksums"),
        ("provenance.intoto.jsonl", "provenance"),
        ("cosign.pub", "key"),
        ("RELEASE_NOTES.md", "notes"),
        ("images.json", "record"),
        ("release.json", "record"),
        ("charts/app-1.0.0.tgz", "chart"),
        ("other.txt", "file"),
    ],
)
def test_kind_of_a_release_file(rel: str, kind: str) -> None:
    assert kind_of(rel) == kind


def test_an_artifact_is_recorded_once_and_updated_in_place() -> None:
    reg = Registry()
    reg.add(Artifact("wheel", "python/a.whl", package="a", path="python/a.whl", sha256="11"))
    reg.add(Artifact("image", "api", package="a", status="built"))
    reg.update("image", "api", digest=DIGEST, tags=("1.0.0", "latest"), destination="r/x/api")
    reg.update("wheel", "python/a.whl", destination="http://index", status="uploaded")
    assert len(reg) == 2
    assert [a.kind for a in reg] == ["wheel", "image"]
    wheel = reg.get("wheel", "python/a.whl")
    assert wheel is not None and (wheel.sha256, wheel.status) == ("11", "uploaded")
    assert reg.images() == {"api": ImagePin("r/x/api", ("1.0.0", "latest"), DIGEST)}


def test_checksums_and_sboms_are_derived_from_the_registry() -> None:
    reg = Registry(
        [
            Artifact("wheel", "python/b.whl", path="python/b.whl", sha256="bb"),
            Artifact("sbom", "sbom/b.cdx.json", path="sbom/b.cdx.json", sha256="cc"),
            Artifact("checksums", "SHA256SUMS", path="SHA256SUMS", sha256="dd"),
            Artifact("image", "api"),
            Artifact("file", "gone.txt", path="gone.txt", sha256="ee"),
        ]
    )
    assert reg.checksums({"python/b.whl", "sbom/b.cdx.json"}) == (
        "bb  python/b.whl\ncc  sbom/b.cdx.json\n"
    )
    assert reg.sboms() == ["sbom/b.cdx.json"]


def test_the_registry_round_trips_through_json() -> None:
    reg = Registry(
        [
            Artifact("image", "api", package="cp", digest=DIGEST, tags=("1.0.0",)),
            Artifact("sdist", "python/a.tar.gz", path="python/a.tar.gz", sha256="11"),
        ]
    )
    again = Registry.from_json(json.loads(json.dumps(reg.to_json())))
    assert list(again) == list(reg)


def test_an_unknown_kind_in_a_record_is_refused() -> None:
    with pytest.raises(ManifestError, match=r"kind 'tarball', which is none of"):
        Registry.from_json([{"kind": "tarball", "name": "x"}])


def test_images_json_keeps_the_images_not_pushed_again(tmp_path: Path) -> None:
    path = tmp_path / "images.json"
    write_images(path, {"api": ImagePin("r/x/api", ("1.0.0",), DIGEST)})
    other = "sha256:" + "b" * 64
    write_images(path, {"web": ImagePin("r/x/web", ("1.0.0",), other)})
    assert json.loads(path.read_text()) == {
        "api": {"repository": "r/x/api", "tags": ["1.0.0"], "digest": DIGEST},
        "web": {"repository": "r/x/web", "tags": ["1.0.0"], "digest": other},
    }
    assert read_images(path)["web"].digest == other


def test_images_json_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "images.json"
    path.write_text("{not json")
    with pytest.raises(ManifestError, match=r"images\.json is not valid JSON"):
        read_images(path)


def test_an_image_keeps_the_manifest_digest_of_each_platform() -> None:
    arm = "sha256:" + "b" * 64
    image = Artifact("image", "api", digest=DIGEST, platforms=(("linux/arm64", arm),))
    data = json.loads(json.dumps(image.to_json()))
    assert data["platforms"] == [["linux/arm64", arm]]
    assert Artifact.from_json(data) == image
    assert "platforms" not in Artifact("wheel", "x.whl").to_json()
