from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from releasekit.build import sbom
from releasekit.build.images import sbom as image_sbom
from releasekit.build.sbom import Installed
from releasekit.core.errors import ConflictError, ReleaseError
from releasekit.core.files import file_sha256

ENV = [
    Installed("ironcage-cli", "1.0.0", "Apache-2.0", ("ironcage-sandbox",)),
    Installed("ironcage_sandbox", "1.0.0", "Apache-2.0"),
    Installed("pip", "24.0", "MIT"),
]


def test_python_bom(tmp_path: Path) -> None:
    wheel = tmp_path / "ironcage_cli-1.0.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    digests = {"ironcage-sandbox": "ab" * 32}
    bom = sbom.python_bom(ENV[0], wheel, ENV, digests, timestamp=1717243200)
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["specVersion"] == "1.5"
    assert bom["metadata"]["timestamp"] == "2024-06-01T12:00:00Z"
    root = bom["metadata"]["component"]
    assert root["purl"] == "pkg:pypi/ironcage-cli@1.0.0"
    assert root["hashes"] == [{"alg": "SHA-256", "content": file_sha256(wheel)}]
    assert [c["purl"] for c in bom["components"]] == ["pkg:pypi/ironcage-sandbox@1.0.0"]
    assert bom["components"][0]["hashes"][0]["content"] == "ab" * 32
    assert bom["dependencies"][0] == {
        "ref": "pkg:pypi/ironcage-cli@1.0.0",
        "dependsOn": ["pkg:pypi/ironcage-sandbox@1.0.0"],
    }
    again = sbom.python_bom(ENV[0], wheel, ENV, digests, timestamp=1717243200)
    assert again == bom
    wheel.write_bytes(b"other")
    assert (
        sbom.python_bom(ENV[0], wheel, ENV, digests, timestamp=1)["serialNumber"]
        != (bom["serialNumber"])
    )


def test_write_is_stable(tmp_path: Path) -> None:
    a = sbom.write({"b": 1, "a": [2]}, tmp_path / "a.json")
    b = sbom.write({"a": [2], "b": 1}, tmp_path / "b.json")
    assert a.read_bytes() == b.read_bytes()


def _valid(bom: dict[str, object]) -> None:
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(bom)) is None


def test_python_bom_is_valid_cyclonedx_with_purls_and_hashes(tmp_path: Path) -> None:
    wheel = tmp_path / "ironcage_cli-1.0.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    digests = {"ironcage-sandbox": "ab" * 32}
    bom = sbom.python_bom(ENV[0], wheel, ENV, digests, timestamp=1717243200)
    _valid(bom)
    assert bom["serialNumber"].startswith("urn:uuid:")
    assert bom["metadata"]["tools"]["components"][0]["name"] == "releasekit"
    assert bom["metadata"]["component"]["licenses"] == [{"license": {"name": "Apache-2.0"}}]
    for component in [bom["metadata"]["component"], *bom["components"]]:
        assert component["purl"] == component["bom-ref"]
        assert component["purl"].startswith("pkg:pypi/")
        assert re.fullmatch(r"[0-9a-f]{64}", component["hashes"][0]["content"])
    assert "pkg:pypi/pip@24.0" not in json.dumps(bom)


def test_image_bom_is_valid_cyclonedx_with_the_subject_first() -> None:
    components = [
        image_sbom.Component("deb", "libc6", "2.36-9+deb12u4", "pkg:deb/debian/libc6@2.36-9"),
        image_sbom.Component(
            "pypi", "ironcage-sandbox", "1.0.0", sbom.purl("ironcage-sandbox", "1.0.0")
        ),
        image_sbom.Component("deb", "libc6", "2.36-9+deb12u4", "pkg:deb/debian/libc6@2.36-9"),
    ]
    image_id = "sha256:" + "cd" * 32
    bom = image_sbom.image_bom("agent-runtime", "1.0.0", image_id, components, timestamp=0)
    _valid(bom)
    subject = bom["metadata"]["component"]
    assert subject["hashes"] == [{"alg": "SHA-256", "content": "cd" * 32}]
    assert [c["purl"] for c in bom["components"]] == [
        "pkg:deb/debian/libc6@2.36-9",
        "pkg:pypi/ironcage-sandbox@1.0.0",
    ]
    assert bom["dependencies"][0] == {
        "ref": subject["bom-ref"],
        "dependsOn": [c["purl"] for c in bom["components"]],
    }


def _image_sbom(path: Path, image_id: str) -> Path:
    sbom.write(image_sbom.image_bom("agent-runtime", "1.0.0", image_id, [], timestamp=0), path)
    return path


def test_an_sbom_of_another_image_is_never_attested(tmp_path: Path) -> None:
    shipped, rebuilt = "sha256:" + "cd" * 32, "sha256:" + "ef" * 32
    manifest = {"config": {"digest": shipped}}
    ours = _image_sbom(tmp_path / "ours.cdx.json", shipped)
    assert image_sbom.subject_id(ours) == shipped
    image_sbom.require_subject(ours, manifest, "r/agent-runtime@sha256:1")
    other = _image_sbom(tmp_path / "other.cdx.json", rebuilt)
    with pytest.raises(ConflictError, match=rf"describes the image {rebuilt}.* image {shipped}"):
        image_sbom.require_subject(other, manifest, "r/agent-runtime@sha256:1")
    assert image_sbom.subject_id(tmp_path / "missing.cdx.json") is None


METADATA = """Metadata-Version: 2.3
Name: {name}
Version: {version}
License-Expression: Apache-2.0
{requires}
"""


def _dist_info(site: Path, name: str, version: str, *requires: str) -> None:
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    lines = "\n".join(f"Requires-Dist: {r}" for r in requires)
    (folder / "METADATA").write_text(METADATA.format(name=name, version=version, requires=lines))


def test_installed_reads_the_venv_in_process(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    (venv / "pyvenv.cfg").parent.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    _dist_info(site, "ironcage-cli", "1.0.0", "ironcage-sandbox==1.0.0", 'pytest; extra == "test"')
    _dist_info(site, "Ironcage_Sandbox", "1.0.0")
    found = sbom.installed(venv / "bin" / "python")
    assert found == [
        Installed("ironcage-cli", "1.0.0", "Apache-2.0", ("ironcage-sandbox",)),
        Installed("Ironcage_Sandbox", "1.0.0", "Apache-2.0"),
    ]


def test_installed_refuses_an_interpreter_outside_a_venv(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match=r"not the interpreter of a virtual environment"):
        sbom.installed(tmp_path / "bin" / "python")
