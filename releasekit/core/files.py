"""Files that are whole or absent: atomic writes with fsync, and JSON with secrets redacted.

A reader (a resumed release, another process, a crash-recovered machine) sees either the
old file or the new one, never half of one: data goes to a temporary file in the same
folder, is flushed to disk, renamed over the target, and the folder entry is synced.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from releasekit.core.run import redact_data

__all__ = ["write_bytes", "write_json", "write_text"]


def write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically and durably (``mode`` for new permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def write_text(path: Path, text: str, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically and durably."""
    write_bytes(path, text.encode("utf-8"), mode)


def write_json(
    path: Path,
    data: Any,
    *,
    redacted: bool = True,
    compact: bool = False,
    mode: int | None = None,
) -> None:
    """Write ``data`` as JSON atomically: indented and key-sorted, or ``compact`` on one line.

    With ``redacted`` (the default) every registered secret is replaced in the string
    values before serialising, so a secret that happens to look like JSON syntax (a
    variable ``FEATURE_TOKEN=true``) can never corrupt the file. Files that hold machine
    state of their own (pids, ports) pass ``redacted=False``. ``mode`` sets the
    permissions of the file (default: private to its owner).
    """
    value = redact_data(data) if redacted else data
    if compact:
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = json.dumps(value, indent=2, sort_keys=True)
    write_text(path, text + "\n", mode)


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
