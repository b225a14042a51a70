"""The record of the local base images: the ids ``docker/base/bootstrap.sh`` built.

Where the pinned public bases cannot be pulled, the images build on local ones made with
debootstrap. debootstrap is not reproducible, so a base rebuilt (or replaced by another
image under the same name) would change every image built on it without anyone noticing.
The bootstrap script therefore writes each local base's image id to a record, one
``<image> <id>`` line each; a build checks the local base against it and refuses another id.

The record lives beside the bootstrap's work folder, ``/var/cache/releasekit/base-images``
(``RELEASEKIT_BASE_RECORD`` names another file), because the images belong to the machine's
Docker engine, not to one checkout.

BuildKit cannot read Docker's image store, so each local base is also an OCI image layout
(``oci/<name>/`` beside the record, or under ``RELEASEKIT_BASE_LAYOUTS``) whose index lists
one manifest per platform (linux/amd64, and linux/arm64 where QEMU ran the arm64
debootstrap). The record holds its index digest as an ``oci:<image> <digest>`` line, and
:func:`local_base` gives the layout only while it still names that index.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasekit.core.errors import PreflightError

__all__ = [
    "LAYOUTS_ENV",
    "RECORD_ENV",
    "LocalBase",
    "check_recorded",
    "layout_path",
    "local_base",
    "record_path",
    "recorded",
]

RECORD_ENV = "RELEASEKIT_BASE_RECORD"
LAYOUTS_ENV = "RELEASEKIT_BASE_LAYOUTS"
_DEFAULT_RECORD = Path("/var/cache/releasekit/base-images")
_BOOTSTRAP = "docker/base/bootstrap.sh"


def record_path(environ: Mapping[str, str] | None = None) -> Path:
    """The record file: ``$RELEASEKIT_BASE_RECORD``, else the bootstrap's default."""
    env = os.environ if environ is None else environ
    chosen = env.get(RECORD_ENV, "").strip()
    return Path(chosen) if chosen else _DEFAULT_RECORD


def recorded(path: Path) -> dict[str, str]:
    """``{image: id}`` from the record at ``path`` (empty when there is none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#"):
            found[parts[0]] = parts[1]
    return found


def check_recorded(ref: str, image_id: str, environ: Mapping[str, str] | None = None) -> None:
    """PreflightError unless the local base ``ref`` is the image ``image_id`` recorded."""
    path = record_path(environ)
    expected = recorded(path).get(ref)
    if expected is None:
        raise PreflightError(
            f"The local base image {ref} (id {image_id}) has no recorded id in {path}, so "
            f"nothing says it is the one {_BOOTSTRAP} built. Run `sudo {_BOOTSTRAP}`: it "
            "records the ids of the local bases (and builds only the missing ones)."
        )
    if expected != image_id:
        raise PreflightError(
            f"The local base image {ref} is {image_id}, but {path} records {expected}: the "
            "base changed since it was bootstrapped, and images built on it would hold other "
            f"bytes. Rebuild and record it with `sudo FORCE=1 {_BOOTSTRAP}`, or accept the "
            f"present image with `sudo RECORD=1 {_BOOTSTRAP}`."
        )


@dataclass(frozen=True)
class LocalBase:
    """A local base as an OCI image layout: the index digest the record names, its platforms."""

    ref: str
    layout: Path
    digest: str
    platforms: tuple[str, ...]


def layout_path(ref: str, environ: Mapping[str, str] | None = None) -> Path:
    """The layout folder of ``ref``: ``<layouts>/<last path part, ':' as '-'>``.

    ``<layouts>`` is ``$RELEASEKIT_BASE_LAYOUTS``, else the folder ``oci`` beside the record,
    as ``docker/base/bootstrap.sh`` writes them.
    """
    env = os.environ if environ is None else environ
    chosen = env.get(LAYOUTS_ENV, "").strip()
    root = Path(chosen) if chosen else record_path(env).parent / "oci"
    return root / ref.rpartition("/")[2].replace(":", "-")


def local_base(ref: str, environ: Mapping[str, str] | None = None) -> LocalBase | None:
    """The recorded OCI layout of the local base ``ref``; None when the record names none.

    PreflightError when the layout is missing, unreadable, or names another index than the
    recorded one (the base changed since it was bootstrapped).
    """
    path = record_path(environ)
    expected = recorded(path).get(f"oci:{ref}")
    if expected is None:
        return None
    layout = layout_path(ref, environ)
    fix = (
        f"Rebuild and record it with `sudo FORCE=1 {_BOOTSTRAP}`, or accept the present "
        f"layout with `sudo RECORD=1 {_BOOTSTRAP}`."
    )
    try:
        top = json.loads((layout / "index.json").read_text(encoding="utf-8"))["manifests"][0]
        digest = str(top["digest"])
        blob = _blob(layout, digest)
        index = json.loads(blob)
        platforms = tuple(_platform(entry) for entry in index["manifests"])
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise PreflightError(
            f"{path} records the OCI layout of the local base image {ref} as {expected}, but "
            f"{layout} cannot be read as one ({exc}). Write it again with "
            f"`sudo FORCE=1 {_BOOTSTRAP}`."
        ) from None
    if digest != expected or f"sha256:{hashlib.sha256(blob).hexdigest()}" != expected:
        raise PreflightError(
            f"The OCI layout {layout} of the local base image {ref} names the index {digest}, "
            f"but {path} records {expected}: the base changed since it was bootstrapped, and "
            f"images built on it would hold other bytes. {fix}"
        )
    return LocalBase(ref=ref, layout=layout, digest=expected, platforms=platforms)


def _blob(layout: Path, digest: str) -> bytes:
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64:
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return (layout / "blobs" / "sha256" / hexdigest).read_bytes()


def _platform(entry: Any) -> str:
    platform = entry["platform"]
    name = f"{platform['os']}/{platform['architecture']}"
    variant = platform.get("variant")
    return f"{name}/{variant}" if variant else name
