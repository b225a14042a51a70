"""What the toolkit itself contributes to an artifact's inputs: its own source.

Kept apart from the cache so that the no-op check (``releasekit.build.noop``) reads it
without loading anything else.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import releasekit

__all__ = ["toolkit_hash"]

_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def toolkit_hash() -> str:
    """The hash of the toolkit's own source (every ``.py`` file of the releasekit package)."""
    base = Path(releasekit.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(base.rglob("*.py")):
        digest.update(f"{path.relative_to(base).as_posix()}\0{_sha256(path)}\n".encode())
    return digest.hexdigest()
