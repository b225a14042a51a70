"""releasekit.publish.chart_archive: the same chart files make the same archive bytes."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from releasekit.core.errors import ManifestError
from releasekit.publish import chart_archive

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
FILES = {
    "app/Chart.yaml": b"apiVersion: v2\nname: app\nversion: 1.2.3\n",
    "app/values.yaml": b"replicas: 1\n",
    "app/templates/deployment.yaml": b"kind: Deployment\n",
}


def _helm_like(path: Path, order: list[str], mtime: int, owner: tuple[int, str]) -> Path:
    """An archive as helm writes one: the files in ``order``, with times and owner."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in order:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(FILES[name]), mtime, 0o664
            info.uid = info.gid = owner[0]
            info.uname = info.gname = owner[1]
            tar.addfile(info, io.BytesIO(FILES[name]))
    with gzip.GzipFile(filename=path.name, mode="wb", fileobj=path.open("wb"), mtime=mtime) as gz:
        gz.write(raw.getvalue())
    return path


def test_times_order_and_owners_do_not_change_the_bytes(tmp_path: Path) -> None:
    one = _helm_like(tmp_path / "one.tgz", sorted(FILES), 1_700_000_000, (1000, "me"))
    other = _helm_like(tmp_path / "other.tgz", sorted(FILES, reverse=True), 1_800_000_000, (0, ""))
    assert one.read_bytes() != other.read_bytes()
    first = chart_archive.normalise(one, EPOCH)
    assert first == chart_archive.normalise(other, EPOCH)
    assert (
        hashlib.sha256(first).hexdigest()
        == hashlib.sha256(chart_archive.normalise(one, EPOCH)).hexdigest()
    )
    # Another commit time is another archive: the time is the release commit's, stated.
    assert chart_archive.normalise(one, EPOCH + 1) != first


def test_the_normalised_archive_holds_the_same_files_stamped_with_the_epoch(
    tmp_path: Path,
) -> None:
    source = _helm_like(tmp_path / "a.tgz", list(FILES), 1_700_000_000, (1000, "me"))
    out = tmp_path / "out.tgz"
    out.write_bytes(chart_archive.normalise(source, EPOCH))
    assert chart_archive.contents(out) == chart_archive.contents(source)
    assert chart_archive.archive_meta(out) == ("app", "1.2.3")
    with tarfile.open(out) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(FILES)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (EPOCH, 0, 0, "", "", 0o644)
    }
    header = out.read_bytes()[:10]
    assert header[4:8] == b"\0\0\0\0"  # gzip MTIME 0
    assert header[3] & 0x08 == 0  # no FNAME field


def test_a_link_in_the_archive_is_refused(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        link = tarfile.TarInfo("app/values.yaml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    path = tmp_path / "bad.tgz"
    path.write_bytes(gzip.compress(raw.getvalue()))
    with pytest.raises(ManifestError, match=r"holds `app/values\.yaml`, which is neither"):
        chart_archive.normalise(path, EPOCH)


@pytest.mark.parametrize(("value", "expected"), [("1767225600", EPOCH)])
def test_source_date_epoch_is_the_stamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, expected: int
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    assert chart_archive.epoch_of(tmp_path) == expected
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ManifestError, match=r"SOURCE_DATE_EPOCH is 'yesterday'"):
        chart_archive.epoch_of(tmp_path)


def test_a_touched_file_packages_to_the_same_sha256(tmp_path: Path) -> None:
    """What `touch values.yaml` does to helm's archive (a new mtime) leaves no trace."""
    chart = tmp_path / "src"
    for name, data in FILES.items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_bytes(data)

    def package(dest: Path) -> str:
        with tarfile.open(dest, "w:gz") as tar:
            for name in FILES:
                tar.add(chart / name, arcname=name)
        return hashlib.sha256(chart_archive.normalise(dest, EPOCH)).hexdigest()

    first = package(tmp_path / "first.tgz")
    os.utime(chart / "app/values.yaml", (2_000_000_000, 2_000_000_000))
    second = package(tmp_path / "second.tgz")
    assert (tmp_path / "first.tgz").read_bytes() != (tmp_path / "second.tgz").read_bytes()
    assert first == second
