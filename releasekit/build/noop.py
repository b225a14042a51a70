"""The no-op build: answer "everything is up to date" without loading the builders.

A complete ``invoke build`` (every kind, every package, no shard) that succeeds writes a
stamp, ``build/cache/noop.json``: a fingerprint of everything an artifact's inputs hash
reads, taken before the build started, and one row per output (path, size, sha256, and the
file's size and modification time as seen after the build). The next ``invoke build``
computes the fingerprint again (one ``git status`` call and a few small reads: no docker,
no BuildKit, no registry, none of the builder modules) and, when it matches and every
output is still the file the stamp saw, reports the rows as up to date and stops. Anything
else (a changed or new file, another commit, another toolchain or toolkit, other base
images, a touched output or image record) falls through to the full build, which checks
every artifact by its inputs hash as always. The image records (``build/images/*.json``:
each image's index and platform digests, where it was pushed, its smoke tests) are seen
like outputs: another build of an image (``invoke build.images``) rewrites its record, so
the stamp no longer answers.

The fingerprint covers: the toolkit's version and source, every distribution installed
beside it (the artifact-shaping tools among them), the interpreter, HEAD and every
modified or untracked (not ignored) file with its content hash, the recorded local base
images, and the variables that steer a build (``BUILDKIT_HOST``, ``RELEASEKIT_*``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["STAMP", "check", "fingerprint", "forget", "write"]

STAMP = Path("build/cache/noop.json")
RECORDS = Path("build/images")
_FORMAT = 2
_STEERING = ("BUILDKIT_HOST", "SOURCE_DATE_EPOCH")
_BASE_RECORD = Path("/var/cache/releasekit/base-images")
# Porcelain v2: the number of space-separated fields before the path, per entry type.
_FIELDS = {"1": 8, "2": 9, "u": 10, "?": 1}


def _git_state(root: Path) -> bytes:
    from releasekit.core.run import run

    argv = ["git", "-C", str(root), "status", "--porcelain=v2", "-z", "--branch"]
    out = run([*argv, "--untracked-files=all"], mutates=False, quiet=True).stdout
    digest = hashlib.sha256(out.encode())
    for entry in filter(None, out.split("\0")):
        fields = _FIELDS.get(entry[:1])
        if fields is None:
            continue  # a header (# branch.oid ...) or the original path of a rename
        rel = entry.split(" ", fields)[-1]
        path = root / rel
        if path.is_file():
            digest.update(f"{rel}\0{_sha256(path)}\n".encode())
    return digest.digest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _bases() -> str:
    chosen = os.environ.get("RELEASEKIT_BASE_RECORD", "").strip()
    record = Path(chosen) if chosen else _BASE_RECORD
    if record.is_file():
        return _sha256(record)
    if record.is_dir():
        return hashlib.sha256(
            "".join(
                f"{p.name}:{_sha256(p)}" for p in sorted(record.rglob("*")) if p.is_file()
            ).encode()
        ).hexdigest()
    return "none"


def _installed() -> str:
    """Every distribution installed beside the toolkit, by name and version (its folder)."""
    import sysconfig

    found: set[str] = set()
    for key in ("purelib", "platlib"):
        folder = Path(sysconfig.get_paths()[key])
        if folder.is_dir():
            found.update(p.name for p in folder.glob("*.dist-info"))
    return "\n".join(sorted(found))


def fingerprint(root: Path) -> str:
    """The hash of everything the inputs of the workspace's artifacts depend on."""
    import releasekit
    from releasekit.build.toolkit import toolkit_hash

    digest = hashlib.sha256()
    digest.update(f"releasekit {releasekit.__version__} {toolkit_hash()}\n".encode())
    digest.update(_installed().encode())
    digest.update(f"python {sys.version} {sys.executable}\n".encode())
    digest.update(_git_state(root))
    digest.update(f"bases {_bases()}\n".encode())
    steering = {
        k: v for k, v in os.environ.items() if k in _STEERING or k.startswith("RELEASEKIT_")
    }
    digest.update(json.dumps(steering, sort_keys=True).encode())
    return digest.hexdigest()


def _seen(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _records(root: Path) -> dict[str, list[int]]:
    """Each image record (and the smoke record) below ``build/images/``, as seen now."""
    folder = root / RECORDS
    found = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return {p.relative_to(root).as_posix(): _seen(p) for p in found}


def write(root: Path, version: str, taken: str, rows: Sequence[dict[str, Any]]) -> None:
    """Stamp a complete build whose fingerprint before it started was ``taken``."""
    from releasekit.core import files

    kept = []
    for row in rows:
        path = root / str(row["path"])
        if not path.is_file():
            return
        kept.append({**row, "status": "up to date", "seen": _seen(path)})
    data = {
        "format": _FORMAT,
        "fingerprint": taken,
        "version": version,
        "rows": kept,
        "records": _records(root),
    }
    files.write_json(root / STAMP, data, redacted=False)


def forget(root: Path) -> None:
    """Drop the stamp (a build that is not complete, or that failed)."""
    (root / STAMP).unlink(missing_ok=True)


def check(root: Path) -> tuple[str, list[dict[str, Any]]] | None:
    """(version, rows) when nothing changed since the stamped build; None otherwise."""
    try:
        data = json.loads((root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return None
    rows = data.get("rows", [])
    for row in rows:
        path = root / str(row.get("path", ""))
        try:
            if _seen(path) != row.get("seen"):
                return None
        except OSError:
            return None
    try:
        if _records(root) != data.get("records"):
            return None
    except OSError:
        return None
    if data.get("fingerprint") != fingerprint(root):
        return None
    return str(data.get("version", "")), [
        {k: v for k, v in row.items() if k != "seen"} for row in rows
    ]
