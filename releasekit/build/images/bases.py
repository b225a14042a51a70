"""The record of the local base images: the ids ``docker/base/bootstrap.sh`` built.

Where the pinned public bases cannot be pulled, the images build on local ones made with
debootstrap. debootstrap is not reproducible, so a base rebuilt (or replaced by another
image under the same name) would change every image built on it without anyone noticing.
The bootstrap script therefore writes each local base's image id to a record, one
``<image> <id>`` line each; a build checks the local base against it and refuses another id.

The record lives beside the bootstrap's work folder, ``/var/cache/releasekit/base-images``
(``RELEASEKIT_BASE_RECORD`` names another file), because the images belong to the machine's
Docker engine, not to one checkout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from releasekit.core.errors import PreflightError

__all__ = ["RECORD_ENV", "check_recorded", "record_path", "recorded"]

RECORD_ENV = "RELEASEKIT_BASE_RECORD"
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
