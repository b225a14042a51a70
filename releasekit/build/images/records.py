"""What the build knows of each image: its digests (``build/images/<image>.json``) and the
smoke tests its digests passed (``build/images/smoke.json``).

The image record is written as soon as BuildKit has built the image, before anything is
pushed: the index digest every tag will name, and per platform the manifest digest and the
config digest (the id Docker Engine gives the loaded image). The publish step tags that
digest, and refuses a registry or a rebuild that yields another.

A smoke result is kept per platform manifest digest and smoke definition (a hash of the
smoke test's code and of the images it starts beside it): an image whose digest already
passed is not started again; the digest proves it is the image that was seen running.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasekit.build.images import smoke
from releasekit.core import files

__all__ = [
    "ImageRecord",
    "passed",
    "read_record",
    "record_path",
    "record_smoke",
    "smoke_definition",
    "write_record",
]


@dataclass(frozen=True)
class ImageRecord:
    """One built image: version, index digest, (platform, manifest, config) per platform."""

    name: str
    version: str
    digest: str
    platforms: tuple[tuple[str, str, str], ...]
    base: str = ""
    tags: tuple[str, ...] = ()
    pushed: tuple[str, ...] = ()

    def manifest(self, platform: str) -> str:
        return next((m for p, m, _ in self.platforms if p == platform), "")

    def config(self, platform: str) -> str:
        return next((c for p, _, c in self.platforms if p == platform), "")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "digest": self.digest,
            "platforms": {p: {"manifest": m, "config": c} for p, m, c in self.platforms},
            "base": self.base,
            "tags": list(self.tags),
            "pushed": list(self.pushed),
        }


def record_path(root: Path, name: str) -> Path:
    return root / "build" / "images" / f"{name}.json"


def read_record(root: Path, name: str, version: str | None = None) -> ImageRecord | None:
    """The record of image ``name`` (of ``version`` when given), None without one."""
    try:
        data = json.loads(record_path(root, name).read_text(encoding="utf-8"))
        digest = str(data["digest"])
        platforms = tuple(
            (str(p), str(v["manifest"]), str(v["config"])) for p, v in data["platforms"].items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if version is not None and data.get("version") != version:
        return None
    return ImageRecord(
        name,
        str(data.get("version", "")),
        digest,
        platforms,
        str(data.get("base", "")),
        tuple(str(t) for t in data.get("tags") or ()),
        tuple(str(r) for r in data.get("pushed") or ()),
    )


def write_record(root: Path, record: ImageRecord) -> Path:
    path = record_path(root, record.name)
    files.write_json(path, record.to_json())
    return path


def smoke_definition(name: str, beside: tuple[str, ...] = ()) -> str:
    """The smoke test of ``name``: its code and the digests of the images started beside it."""
    code = Path(smoke.__file__).read_bytes()
    text = "\n".join([hashlib.sha256(code).hexdigest(), name, *beside])
    return hashlib.sha256(text.encode()).hexdigest()


_SMOKE_LOCK = threading.Lock()


def _smoke_file(root: Path) -> Path:
    return root / "build" / "images" / "smoke.json"


def _smoke_data(root: Path) -> dict[str, Any]:
    try:
        data = json.loads(_smoke_file(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def passed(root: Path, digest: str, definition: str) -> list[str] | None:
    """The checks the image ``digest`` passed under ``definition``, None when it never did."""
    entry = _smoke_data(root).get(f"{digest} {definition}")
    return [str(c) for c in entry["checks"]] if isinstance(entry, dict) else None


def record_smoke(
    root: Path, name: str, platform: str, digest: str, definition: str, checks: tuple[str, ...]
) -> None:
    """Record that ``name`` (``platform``, manifest ``digest``) passed ``definition``."""
    with _SMOKE_LOCK:  # images are smoke-tested side by side
        data = _smoke_data(root)
        entry = {"image": name, "platform": platform, "checks": list(checks)}
        data[f"{digest} {definition}"] = entry
        files.write_json(_smoke_file(root), data)
