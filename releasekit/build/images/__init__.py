"""Container images: specs and tags, builds through BuildKit, SBOMs, smoke tests.

``build_images`` builds each image of release.toml from ``docker/<image>.Dockerfile`` (a
multi-stage, multi-platform build on BuildKit, installing from a host-built wheelhouse)
and records its digests; ``smoke_platforms`` runs each platform's image once per digest.
"""

from __future__ import annotations

from releasekit.build.images.adopt import Source
from releasekit.build.images.build import (
    ImagePlan,
    ImageResult,
    build_image,
    build_images,
    load_platform,
    plan,
    prepare_context,
    request_for,
)
from releasekit.build.images.buildkit_image import build_one
from releasekit.build.images.records import ImageRecord, read_record
from releasekit.build.images.sbom import sbom_path, subject_id, write_sbom
from releasekit.build.images.smoke import SmokeResult, smoke_image
from releasekit.build.images.smoked import Smoked, smoke_platforms
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
    "BaseImage",
    "ImagePlan",
    "ImageRecord",
    "ImageResult",
    "ImageSpec",
    "SmokeResult",
    "Smoked",
    "Source",
    "build_image",
    "build_images",
    "build_one",
    "connect",
    "load_platform",
    "plan",
    "prepare_context",
    "read_record",
    "request_for",
    "resolve_base_images",
    "sbom_path",
    "smoke_image",
    "smoke_platforms",
    "specs",
    "subject_id",
    "tags_for",
    "write_sbom",
]
