"""The release record: what a release published and where.

``Record`` is ``release.json`` (or the context of a running release): the Python files with
their sha256, the images and charts with their digests, and the files of SHA256SUMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChartRecord", "ImageRecord", "Record"]


@dataclass(frozen=True)
class ImageRecord:
    """An image of the release: ``repository`` (``HOST/NAMESPACE/NAME``), digest and tags.

    ``digest`` is what the tags name: an OCI index for a multi-platform image, whose
    ``platforms`` are (platform, manifest digest) pairs; a single manifest has none.
    """

    name: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    version: str = ""
    """Its package's version, when the release's packages have their own (its first tag)."""
    platforms: tuple[tuple[str, str], ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.digest}"

    def version_of(self, release: str) -> str:
        """The image's version tag: its own (a release of packages at several versions), else
        the release's version."""
        return self.version or release

    def platform_ref(self, digest: str) -> str:
        """``REPOSITORY@DIGEST`` of one platform's manifest."""
        return f"{self.repository}@{digest}"


def _platforms(value: Any) -> tuple[tuple[str, str], ...]:
    """release.json's ``platforms``: ``{platform: digest}`` (or ``[[platform, digest]]``)."""
    pairs = value.items() if isinstance(value, Mapping) else (value or ())
    return tuple(sorted((str(p), str(d)) for p, d in pairs))


@dataclass(frozen=True)
class ChartRecord:
    """A chart of the release: its ``oci://`` ref with tag, archive sha256, manifest digest."""

    archive: str
    ref: str
    sha256: str
    digest: str = ""

    @property
    def repository(self) -> str:
        """``HOST/charts/NAME``, without scheme and tag."""
        return self.ref.removeprefix("oci://").rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.ref.rsplit(":", 1)[1]

    def to_json(self) -> dict[str, str]:
        return {"ref": self.ref, "sha256": self.sha256, "digest": self.digest}


@dataclass(frozen=True)
class Record:
    """What a release published and where, as release.json (or the running release) says."""

    version: str
    commit: str
    python: dict[str, str] = field(default_factory=dict)
    images: tuple[ImageRecord, ...] = ()
    charts: tuple[ChartRecord, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    tag: str = ""
    kept: tuple[ImageRecord, ...] = ()
    """Images a release of some packages (policy independent) deploys from earlier releases."""

    @property
    def release_tag(self) -> str:
        """The release's git tag: the one recorded, else ``v<version>``."""
        return self.tag or f"v{self.version}"

    @classmethod
    def from_data(cls, data: Mapping[str, Any], files: Mapping[str, str]) -> Record:
        """From release.json's shape (also the shape the release steps return)."""
        own = bool(data.get("packages"))  # policy independent: each image at its package's version
        images, kept = (
            tuple(
                ImageRecord(
                    name,
                    str(e["repository"]),
                    str(e["digest"]),
                    tuple(e.get("tags") or ()),
                    version=str((e.get("tags") or [""])[0]) if own else "",
                    platforms=_platforms(e.get("platforms")),
                )
                for name, e in sorted((data.get(key) or {}).items())
            )
            for key in ("images", "kept")
        )
        charts = tuple(
            ChartRecord(name, str(e["ref"]), str(e["sha256"]), str(e.get("digest") or ""))
            for name, e in sorted((data.get("charts") or {}).items())
        )
        python = {name: str(e["sha256"]) for name, e in (data.get("python") or {}).items()}
        return cls(
            version=str(data["version"]),
            commit=str(data.get("commit") or ""),
            python=python,
            images=images,
            charts=charts,
            files=dict(files),
            tag=str(data.get("tag") or ""),
            kept=kept,
        )
