from __future__ import annotations

from pathlib import Path

from releasekit.build import sbom
from releasekit.build.sbom import Installed
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
