"""Container images: specs and tags, builds through the docker SDK, SBOMs, smoke tests, push.

``build_images`` builds each image of release.toml from ``docker/<image>.Dockerfile`` (a
multi-stage build on the classic builder, installing from a host-built wheelhouse),
``smoke_image`` runs one and checks it, ``push_images`` publishes every tag and records the
digests in ``dist/<version>/images.json``.
"""

from __future__ import annotations

from releasekit.build.images.adopt import Adopted, Source, released_image
from releasekit.build.images.build import (
    ImagePlan,
    ImageResult,
    build_image,
    build_images,
    build_one,
    plan,
    prepare_context,
)
from releasekit.build.images.sbom import sbom_path, subject_id, write_sbom
from releasekit.build.images.smoke import SmokeResult, smoke_image
from releasekit.build.images.spec import (
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
    "Adopted",
    "BaseImage",
    "ImagePlan",
    "ImageResult",
    "ImageSpec",
    "SmokeResult",
    "Source",
    "build_image",
    "build_images",
    "build_one",
    "connect",
    "plan",
    "prepare_context",
    "released_image",
    "resolve_base_images",
    "sbom_path",
    "smoke_image",
    "specs",
    "subject_id",
    "tags_for",
    "write_sbom",
]
