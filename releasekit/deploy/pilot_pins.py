"""The pilot's images pinned by digest: ``<IMAGE>_DIGEST`` variables of docker/compose.yaml.

Each image line of the compose file ends in ``${<IMAGE>_DIGEST:-}``: ``@sha256:...`` makes it
``<registry>/<image>:<version>@sha256:...``, which the engine pulls and runs by digest. The
digests are those ``dist/<version>/images.json`` records for the registry the pilot pulls
from; without a record the version tag runs.

A release named by its packages (policy independent: ``marketing-site-0.2.1`` or
``sandbox-1.3.0+cli-1.2.1``) is no image tag: its images.json records every image, the
released ones at their new digests and the kept ones at their last release's, and the pilot
runs each by that digest, tagged with the version its control panel answers (``app_version``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from releasekit.core import version as versions
from releasekit.core.artifact import IMAGES_FILE, read_images
from releasekit.core.errors import PublishError, VersionError

__all__ = [
    "HEALTH_IMAGE",
    "PILOT_IMAGES",
    "app_version",
    "digest_variable",
    "digest_vars",
    "is_release_id",
    "recorded",
    "require_every_image",
]

PILOT_IMAGES = ("control-panel-api", "control-panel-web", "agent-runtime")
HEALTH_IMAGE = "control-panel-api"
"""The image whose service answers the pilot's /api/health (its web front end, /health)."""


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


def is_release_id(version: str) -> bool:
    """True for a release named by its packages (``marketing-site-0.2.1``), not a version."""
    try:
        versions.parse(version)
    except VersionError:
        return True
    return False


def app_version(root: Path, version: str) -> str:
    """The version the pilot's services answer (and its image tag) once ``version`` runs.

    ``version`` itself; for a release id, the version images.json records first for
    ``HEALTH_IMAGE``: the control panel's version in that release, released or kept.
    """
    if not is_release_id(version):
        return version
    path = root / "dist" / version / IMAGES_FILE
    pin = read_images(path).get(HEALTH_IMAGE) if path.is_file() else None
    if pin is None or not pin.tags:
        raise PublishError(
            f"{path} records no tagged {HEALTH_IMAGE} image, so the pilot cannot tell which "
            f"version of the control panel release {version} runs. Deploy it from the "
            "workspace that made the release (its dist/ folder), or deploy a version."
        )
    return pin.tags[0]


def require_every_image(version: str, registry: str, pinned: Mapping[str, str]) -> None:
    """A release id runs only by digest: refuse one whose record misses a pilot image."""
    missing = [image for image in PILOT_IMAGES if not pinned.get(image)]
    if is_release_id(version) and missing:
        raise PublishError(
            f"dist/{version}/{IMAGES_FILE} pins no digest in {registry} for "
            f"{', '.join(missing)}: release {version} names its packages, not one image tag, so "
            "the pilot runs every image by the digest its release recorded. Deploy it from the "
            "workspace that made the release, with the registry it pushed to."
        )
