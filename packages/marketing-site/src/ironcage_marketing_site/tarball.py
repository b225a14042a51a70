"""Reproducible ``.tar.gz`` archives: same input files -> byte-identical output."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import tempfile
from pathlib import Path


def source_date_epoch() -> int:
    """The timestamp for archive entries: ``$SOURCE_DATE_EPOCH`` if set, else 0."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"SOURCE_DATE_EPOCH must be a non-negative integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"SOURCE_DATE_EPOCH must be a non-negative integer, got {raw!r}")
    return value


def _entries(site_dir: Path, exclude: Path | None) -> list[tuple[str, Path]]:
    """(archive name, path) for every directory and file below ``site_dir``, sorted."""
    found: list[tuple[str, Path]] = []
    for path in site_dir.rglob("*"):
        if exclude is not None and path.resolve() == exclude:
            continue
        if path.is_symlink():
            raise ValueError(f"refusing to archive a symlink: {path}")
        if not (path.is_dir() or path.is_file()):
            raise ValueError(f"refusing to archive a special file: {path}")
        found.append((path.relative_to(site_dir).as_posix(), path))
    return sorted(found)


def _tarinfo(name: str, path: Path, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if path.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.type = tarfile.REGTYPE
        executable = path.stat().st_mode & stat.S_IXUSR
        info.mode = 0o755 if executable else 0o644
        info.size = path.stat().st_size
    return info


def make_tarball(site_dir: Path, dest_tarball: Path) -> Path:
    """Write the contents of ``site_dir`` to ``dest_tarball`` reproducibly and return its path.

    Entries are relative to ``site_dir`` (no leading ``./``), sorted by name, with mtime from
    ``SOURCE_DATE_EPOCH`` (or 0), uid/gid 0, empty owner names and normalised modes; the gzip
    header has mtime 0 and no file name. Symlinks and special files are refused.
    """
    site_dir = Path(site_dir)
    dest_tarball = Path(dest_tarball)
    if not site_dir.is_dir():
        raise NotADirectoryError(f"not a directory: {site_dir}")
    mtime = source_date_epoch()
    entries = _entries(site_dir, dest_tarball.resolve())

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in entries:
            info = _tarinfo(name, path, mtime)
            if info.isdir():
                tar.addfile(info)
            else:
                with path.open("rb") as handle:
                    tar.addfile(info, handle)

    dest_tarball.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest_tarball.name}.", dir=dest_tarball.parent)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
        ):
            gz.write(buffer.getvalue())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, dest_tarball)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return dest_tarball
