"""Artifacts of a release, each recorded once, and the files derived from them.

An ``Artifact`` is one thing a release makes or publishes: a file under
``dist/<version>/`` (sdist, wheel, binary, site, SBOM, checksums, provenance, signature,
notes, record), an image pushed by digest or a chart pushed to an OCI registry. The
``Registry`` holds them in the order they were recorded; a second record of the same
``(kind, name)`` replaces the first, so a step that publishes what an earlier step built
updates that artifact (digest, tags, destination, status) instead of adding another.

``images.json`` has one shape, ``{image: {"repository", "tags", "digest"}}``, written by
``write_images`` and read by ``read_images``; a file in another shape is refused naming it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast, get_args

from releasekit.core import files
from releasekit.core.errors import ManifestError

__all__ = [
    "IMAGES_FILE",
    "Artifact",
    "ImagePin",
    "Kind",
    "Registry",
    "kind_of",
    "read_images",
    "write_images",
]

Kind = Literal[
    "sdist",
    "wheel",
    "binary",
    "site",
    "image",
    "third-party",
    "chart",
    "sbom",
    "checksums",
    "provenance",
    "signature",
    "key",
    "notes",
    "record",
    "file",
]
_KINDS: frozenset[str] = frozenset(get_args(Kind))

IMAGES_FILE = "images.json"


@dataclass(frozen=True)
class Artifact:
    """One artifact: what it is, whose it is, where it lies, what it hashes to, where it went.

    ``name`` is unique per kind: the path below ``dist/<version>/`` for a file, the image
    name for an image, the archive name for a chart. ``sha256`` is the file's hex digest,
    ``digest`` the registry's ``sha256:...`` manifest digest; ``destination`` is where it
    was published (an index URL, a repository, an ``oci://`` ref) and ``status`` what the
    last step did with it (``built``, ``up to date``, ``uploaded``, ``pushed``,
    ``skipped``...).
    """

    kind: Kind
    name: str
    package: str = ""
    path: str = ""
    sha256: str = ""
    digest: str = ""
    tags: tuple[str, ...] = ()
    destination: str = ""
    status: str = ""
    platforms: tuple[tuple[str, str], ...] = ()
    """(platform, manifest digest) of each platform of an image; ``digest`` is its index."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        data["platforms"] = [list(p) for p in self.platforms]
        return {k: v for k, v in data.items() if v not in ("", [])}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Artifact:
        kind = str(data.get("kind", ""))
        if kind not in _KINDS:
            raise ManifestError(
                f"An artifact record has kind {kind!r}, which is none of {sorted(_KINDS)}. "
                "The release state file was written by another toolkit version: finish that "
                "release with it, or remove build/release/state.json."
            )
        return cls(
            kind=cast(Kind, kind),
            name=str(data.get("name", "")),
            package=str(data.get("package", "")),
            path=str(data.get("path", "")),
            sha256=str(data.get("sha256", "")),
            digest=str(data.get("digest", "")),
            tags=tuple(str(t) for t in data.get("tags") or ()),
            destination=str(data.get("destination", "")),
            status=str(data.get("status", "")),
            platforms=tuple((str(p), str(d)) for p, d in data.get("platforms") or ()),
        )


def kind_of(rel: str) -> Kind:
    """The kind of a file of ``dist/<version>/`` from its relative path."""
    path = PurePosixPath(rel)
    name, top = path.name, path.parts[0] if len(path.parts) > 1 else ""
    if name == "SHA256SUMS":
        return "checksums"
    if name.endswith((".whl",)):
        return "wheel"
    if top == "python" and name.endswith(".tar.gz"):
        return "sdist"
    if top == "bin":
        return "binary"
    if top == "site":
        return "site"
    if top == "charts" and name.endswith(".tgz"):
        return "chart"
    if name.endswith(".cdx.json") or top == "sbom":
        return "sbom"
    if name.endswith((".intoto.jsonl", ".intoto.json")):
        return "provenance"
    if name.endswith((".sig", ".asc", ".bundle")):
        return "signature"
    if name.endswith(".pub"):
        return "key"
    if name == "RELEASE_NOTES.md":
        return "notes"
    if name in {IMAGES_FILE, "release.json", "third-party.json"}:
        return "record"
    return "file"


class Registry:
    """Every artifact of a release, recorded once, in the order first recorded."""

    def __init__(self, items: Iterable[Artifact] = ()) -> None:
        self._items: dict[tuple[str, str], Artifact] = {}
        for item in items:
            self.add(item)

    def add(self, artifact: Artifact) -> Artifact:
        """Record ``artifact``, replacing an earlier record of the same kind and name."""
        self._items[(artifact.kind, artifact.name)] = artifact
        return artifact

    def update(self, kind: Kind, name: str, **changes: Any) -> Artifact:
        """Change fields of the recorded ``(kind, name)``, recording it when it is new."""
        old = self._items.get((kind, name), Artifact(kind=kind, name=name))
        return self.add(replace(old, **changes))

    def get(self, kind: Kind, name: str) -> Artifact | None:
        return self._items.get((kind, name))

    def __iter__(self) -> Iterator[Artifact]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def of(self, *kinds: Kind) -> list[Artifact]:
        """The artifacts of ``kinds``, in recorded order."""
        return [a for a in self._items.values() if a.kind in kinds]

    def files(self) -> list[Artifact]:
        """The artifacts that are files of the release folder (they have a ``path``)."""
        return [a for a in self._items.values() if a.path]

    def checksums(self, only: Collection[str] | None = None) -> str:
        """SHA256SUMS: ``<sha256>  <path>`` per file artifact but the checksums, by path.

        ``only`` limits the lines to those paths (the files the release folder holds).
        """
        rows = sorted(
            (a.path, a.sha256)
            for a in self.files()
            if a.kind != "checksums" and a.sha256 and (only is None or a.path in only)
        )
        return "".join(f"{digest}  {path}\n" for path, digest in rows)

    def sboms(self) -> list[str]:
        """The paths of the SBOM documents, sorted."""
        return sorted(a.path for a in self.of("sbom") if a.path)

    def images(self) -> dict[str, ImagePin]:
        """Every pushed image (one with a digest) by name: the content of images.json."""
        return {
            a.name: ImagePin(a.destination, a.tags, a.digest)
            for a in sorted(self.of("image"), key=lambda a: a.name)
            if a.digest
        }

    def to_json(self) -> list[dict[str, Any]]:
        return [a.to_json() for a in self._items.values()]

    @classmethod
    def from_json(cls, data: Iterable[Mapping[str, Any]]) -> Registry:
        return cls(Artifact.from_json(item) for item in data)


@dataclass(frozen=True)
class ImagePin:
    """One entry of images.json: the repository pushed to, its tags, its manifest digest."""

    repository: str
    tags: tuple[str, ...]
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {"repository": self.repository, "tags": list(self.tags), "digest": self.digest}


def read_images(path: Path) -> dict[str, ImagePin]:
    """The images of an images.json, ``{image: {"repository", "tags", "digest"}}``.

    Raises ManifestError naming the file and the entry when it is not that shape.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ManifestError(f"{path} is not valid JSON ({exc}); push the images again.") from None
    if not isinstance(data, dict):
        raise ManifestError(
            f"{path} holds a {type(data).__name__}, not a mapping of image name to "
            '{"repository", "tags", "digest"}. Write it with `invoke docker.push`.'
        )
    pins = {}
    for name, entry in data.items():
        digest = entry.get("digest") if isinstance(entry, dict) else None
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise ManifestError(
                f"{path}: entry `{name}` is {entry!r}, not an object with a `sha256:` digest, "
                'a repository and tags ({"repository": ..., "tags": [...], "digest": '
                '"sha256:..."}). Write it with `invoke docker.push`.'
            )
        tags = tuple(str(t) for t in entry.get("tags") or ())
        pins[str(name)] = ImagePin(str(entry.get("repository") or ""), tags, digest)
    return pins


def write_images(path: Path, pins: Mapping[str, ImagePin]) -> None:
    """Write images.json (atomically), keeping the entries of images not in ``pins``."""
    recorded = read_images(path) if path.is_file() else {}
    recorded.update(pins)
    files.write_json(path, {name: pin.to_json() for name, pin in sorted(recorded.items())})
