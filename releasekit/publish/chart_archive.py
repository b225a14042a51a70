"""Chart archives as bytes: reproducible rewriting, and what an archive holds.

``normalise`` turns the archive ``helm package`` wrote into one whose bytes depend only on
the chart's files: the same chart packages to the same sha256 on any checkout.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

from releasekit.core.errors import ManifestError

__all__ = ["archive_meta", "contents", "epoch_of", "normalise", "sha256"]


def epoch_of(root: Path) -> int:
    """SOURCE_DATE_EPOCH when set, else the commit time of HEAD in ``root``."""
    given = os.environ.get("SOURCE_DATE_EPOCH", "")
    if given:
        if not given.isdigit():
            raise ManifestError(
                f"SOURCE_DATE_EPOCH is {given!r}, not a number of seconds. Unset it, or set it "
                "to the commit time of the release (`git log -1 --format=%ct`)."
            )
        return int(given)
    from releasekit.build.artifacts import source_date_epoch

    return int(source_date_epoch(root))


def normalise(archive: Path, epoch: int) -> bytes:
    """The bytes of ``archive`` rewritten reproducibly.

    Entries sorted by name, each stamped ``epoch`` with owner 0:0 and no owner names,
    files 0644 and folders 0755, in a PAX tar compressed by gzip with header time 0 and
    no file name. Links are refused: helm never packages one.
    """
    entries: list[tuple[tarfile.TarInfo, bytes]] = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if not (member.isfile() or member.isdir()):
                raise ManifestError(
                    f"{archive} holds `{member.name}`, which is neither a file nor a folder: "
                    "a chart archive holds only files. Remove the link from the chart."
                )
            info = tarfile.TarInfo(member.name.rstrip("/"))
            info.mtime = epoch
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            data = b""
            if member.isdir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            else:
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
                info.mode, info.size = 0o644, len(data)
            entries.append((info, data))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as out:
        for info, data in sorted(entries, key=lambda e: e[0].name):
            out.addfile(info, io.BytesIO(data) if info.isfile() else None)
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def archive_meta(archive: Path) -> tuple[str, str]:
    import yaml

    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/Chart.yaml"):
                handle = tar.extractfile(member)
                if handle is not None:
                    meta = yaml.safe_load(handle.read()) or {}
                    return str(meta["name"]), str(meta["version"])
    raise ManifestError(f"{archive} holds no Chart.yaml: it is not a chart archive.")


def contents(archive: Path) -> dict[str, str]:
    """File name -> sha256 of every file in a chart archive (timestamps ignored)."""
    result = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                result[member.name] = hashlib.sha256(handle.read()).hexdigest()
    return result


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
