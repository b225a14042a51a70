"""The OCI layouts of the local base images: docker/base/oci_layout.py writes, bases reads."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from releasekit.build.images import bases
from releasekit.core.errors import PreflightError

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "base" / "oci_layout.py"
REF = "releasekit-base/python:3.11-bookworm"


def _rootfs(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("etc/os-release")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def _write(layout: Path, *platforms: str) -> str:
    argv = [sys.executable, str(SCRIPT), "write", str(layout), "--ref", REF, "--env", "LANG=C"]
    for platform in platforms:
        rootfs = _rootfs(layout.parent / f"{platform.replace('/', '-')}.tar", platform)
        argv += ["--layer", f"{platform}={rootfs}"]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {bases.RECORD_ENV: str(tmp_path / "record")}


def test_layout_path_sits_beside_the_record(environ: dict[str, str], tmp_path: Path) -> None:
    assert bases.layout_path(REF, environ) == tmp_path / "oci" / "python-3.11-bookworm"
    other = {**environ, bases.LAYOUTS_ENV: str(tmp_path / "elsewhere")}
    assert bases.layout_path("x/nginx:bookworm", other) == tmp_path / "elsewhere" / "nginx-bookworm"


def test_no_recorded_layout_is_none(environ: dict[str, str]) -> None:
    assert bases.local_base(REF, environ) is None


def test_a_recorded_layout_gives_its_index_and_platforms(
    environ: dict[str, str], tmp_path: Path
) -> None:
    layout = bases.layout_path(REF, environ)
    digest = _write(layout, "linux/arm64", "linux/amd64")
    (tmp_path / "record").write_text(f"{REF} sha256:{'1' * 64}\noci:{REF} {digest}\n")
    found = bases.local_base(REF, environ)
    assert found == bases.LocalBase(REF, layout, digest, ("linux/amd64", "linux/arm64"))
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == (
        "3.11-bookworm"
    )
    assert bases.recorded(tmp_path / "record")[REF] == f"sha256:{'1' * 64}"


def test_the_same_root_file_systems_give_the_same_index(tmp_path: Path) -> None:
    first = _write(tmp_path / "a" / "layout", "linux/amd64", "linux/arm64")
    second = _write(tmp_path / "b" / "layout", "linux/amd64", "linux/arm64")
    assert first == second


def test_another_layout_than_the_recorded_one_is_refused(
    environ: dict[str, str], tmp_path: Path
) -> None:
    _write(bases.layout_path(REF, environ), "linux/amd64")
    (tmp_path / "record").write_text(f"oci:{REF} sha256:{'2' * 64}\n")
    with pytest.raises(PreflightError, match=r"records sha256:2{64}.*FORCE=1 docker/base"):
        bases.local_base(REF, environ)


def test_a_recorded_layout_that_is_gone_is_refused(environ: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "record").write_text(f"oci:{REF} sha256:{'3' * 64}\n")
    with pytest.raises(PreflightError, match=r"python-3.11-bookworm cannot be read"):
        bases.local_base(REF, environ)


def test_a_changed_index_blob_is_refused(environ: dict[str, str], tmp_path: Path) -> None:
    layout = bases.layout_path(REF, environ)
    digest = _write(layout, "linux/amd64")
    (tmp_path / "record").write_text(f"oci:{REF} {digest}\n")
    blob = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
    blob.write_bytes(blob.read_bytes().replace(b"amd64", b"arm64"))
    with pytest.raises(PreflightError, match="the base changed since it was bootstrapped"):
        bases.local_base(REF, environ)
