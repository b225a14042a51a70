"""SHA256SUMS checked by the real `sha256sum -c`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from releasekit.build import checksums
from releasekit.core.errors import PublishError
from releasekit.core.files import file_sha256
from tests.conftest import require

pytestmark = pytest.mark.integration


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "7.3.1"
    for rel, data in {
        "python/a-7.3.1-py3-none-any.whl": b"wheel",
        "python/a-7.3.1.tar.gz": b"sdist",
        "bin/tool-7.3.1-linux-x86_64": b"\x7fELF",
        "site/site 7.3.1.tar.gz": b"site with a space",
        "sbom/a.cdx.json": b"{}",
        ".partial.tmp": b"hidden",
        "state.json": b"{}",
        "release.lock": b"",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_sha256sum_accepts_the_file(folder: Path) -> None:
    sha256sum = require("sha256sum")
    path = checksums.write(folder)
    assert path == folder / "SHA256SUMS"
    result = subprocess.run(
        [sha256sum, "--check", "--strict", "SHA256SUMS"], cwd=folder, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == 5


def test_lists_release_files_sorted_and_skips_state(folder: Path) -> None:
    checksums.write(folder)
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [
        "bin/tool-7.3.1-linux-x86_64",
        "python/a-7.3.1-py3-none-any.whl",
        "python/a-7.3.1.tar.gz",
        "sbom/a.cdx.json",
        "site/site 7.3.1.tar.gz",
    ]
    assert checksums.parse(folder / "SHA256SUMS")["python/a-7.3.1.tar.gz"] == file_sha256(
        folder / "python/a-7.3.1.tar.gz"
    )


def test_rewrite_follows_changes_and_sha256sum_catches_tampering(folder: Path) -> None:
    sha256sum = require("sha256sum")
    checksums.write(folder)
    (folder / "python/a-7.3.1.tar.gz").write_bytes(b"tampered")
    tampered = subprocess.run(
        [sha256sum, "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True
    )
    assert tampered.returncode == 1
    assert "python/a-7.3.1.tar.gz: FAILED" in tampered.stdout
    checksums.write(folder)
    subprocess.run([sha256sum, "-c", "SHA256SUMS"], cwd=folder, check=True, capture_output=True)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="build the artifacts first"):
        checksums.write(tmp_path / "nope")
