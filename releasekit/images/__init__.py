"""Container images: specs and tags, builds through the docker SDK, SBOMs, smoke tests, push.

``build_images`` builds each image of release.toml from ``docker/<image>.Dockerfile`` (a
multi-stage build on the classic builder, installing from a host-built wheelhouse),
``smoke_image`` runs one and checks it, ``push_images`` publishes every tag and records the
digests in ``dist/<version>/images.json``.
"""

from __future__ import annotations

from releasekit.images.build import ImageResult, build_images, build_one, prepare_context
from releasekit.images.push import PushResult, push_images
from releasekit.images.sbom import sbom_path, write_sbom
from releasekit.images.smoke import SmokeResult, smoke_image
from releasekit.images.spec import (
    DEFAULT_BASES,
    LOCAL_BASES,
    LOCAL_PREFIX,
    BaseImage,
    ImageSpec,
    connect,
    resolve_base_images,
    specs,
    tags_for,
)

__all__ = [
    "DEFAULT_BASES",
    "LOCAL_BASES",
    "LOCAL_PREFIX",
    "BaseImage",
    "ImageResult",
    "ImageSpec",
    "PushResult",
    "SmokeResult",
    "build_images",
    "build_one",
    "connect",
    "prepare_context",
    "push_images",
    "resolve_base_images",
    "sbom_path",
    "smoke_image",
    "specs",
    "tags_for",
    "write_sbom",
]
