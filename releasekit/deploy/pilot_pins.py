"""The pilot's images pinned by digest: ``<IMAGE>_DIGEST`` variables of docker/compose.yaml.

Each image line of the compose file ends in ``${<IMAGE>_DIGEST:-}``: ``@sha256:...`` makes it
``<registry>/<image>:<version>@sha256:...``, which the engine pulls and runs by digest. The
digests are those ``dist/<version>/images.json`` records for the registry the pilot pulls
from; without a record the version tag runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from releasekit.core.artifact import IMAGES_FILE, read_images

__all__ = ["PILOT_IMAGES", "digest_variable", "digest_vars", "recorded"]

PILOT_IMAGES = ("control-panel-api", "control-panel-web", "agent-runtime")


def digest_variable(image: str) -> str:
    """``control-panel-api`` -> ``CONTROL_PANEL_API_DIGEST``."""
    return image.upper().replace("-", "_") + "_DIGEST"


def digest_vars(digests: Mapping[str, str] | None) -> dict[str, str]:
    """Every pilot image's digest variable: ``@sha256:...`` when pinned, else empty."""
    pinned = digests or {}
    return {
        digest_variable(image): f"@{pinned[image]}" if image in pinned else ""
        for image in PILOT_IMAGES
    }


def recorded(root: Path, version: str, registry: str) -> dict[str, str]:
    """Image -> digest, from dist/<version>/images.json, for images pushed to ``registry``."""
    path = root / "dist" / version / IMAGES_FILE
    pins = read_images(path) if path.is_file() else {}
    return {name: p.digest for name, p in pins.items() if p.repository == f"{registry}/{name}"}
