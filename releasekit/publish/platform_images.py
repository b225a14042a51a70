"""Every platform of a multi-platform image: its manifest in the index, signature and SBOM.

A multi-platform image is one OCI index (the digest its tags name) listing one image
manifest per platform. The release signs the index and each platform's manifest, attests
each platform's CycloneDX SBOM onto that manifest, and names each in the provenance as
``<repository>#<platform>`` with its manifest digest. `invoke verify` reads the index the
tag names from the registry and checks every platform against the record and the signed
provenance: listed with its recorded digest, signed by the release key, its SBOM attested.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from releasekit.build.images import sbom as image_sbom
from releasekit.core.errors import ConflictError, PublishError
from releasekit.publish import oci, signing
from releasekit.publish.record import ImageRecord
from releasekit.publish.rows import NA, OK, Row

__all__ = [
    "listed",
    "platform_bom",
    "platform_rows",
    "served_platforms",
    "sign_platforms",
    "subject_name",
]


def subject_name(repository: str, platform: str) -> str:
    """The provenance subject of one platform's manifest: ``<repository>#<platform>``."""
    return f"{repository}#{platform}"


def served_platforms(index: Mapping[str, Any]) -> dict[str, str]:
    """``{platform: manifest digest}`` of an OCI index (attestation manifests left out)."""
    found: dict[str, str] = {}
    for entry in index.get("manifests") or []:
        platform = entry.get("platform") or {}
        os_name, arch = platform.get("os", ""), platform.get("architecture", "")
        if not os_name or os_name == "unknown" or not arch:
            continue
        name = f"{os_name}/{arch}" + (f"/{platform['variant']}" if platform.get("variant") else "")
        found[name] = str(entry.get("digest", ""))
    return found


def platform_bom(folder: Path, image: str, version: str, platform: str, config: str) -> Path:
    """The SBOM of ``image``'s ``platform`` (config digest ``config``) in the release folder.

    ``sbom/<image>-<version>-<os>-<arch>.cdx.json``; the image's own SBOM
    (``<image>-<version>.cdx.json``) stands for the platform whose image it describes.
    """
    own = folder / "sbom" / image_sbom.sbom_name(image, version, platform)
    shared = folder / "sbom" / image_sbom.sbom_name(image, version)
    if not own.is_file() and shared.is_file() and image_sbom.subject_id(shared) == config:
        return shared
    return own


def listed(image: ImageRecord, index: oci.Manifest) -> dict[str, str]:
    """``{platform: manifest digest}`` of what ``image``'s tag names: an index's entries; a
    one-platform build's tag names its image manifest itself, which stands for the recorded
    platform of that digest."""
    if "manifests" in index.body:
        return served_platforms(index.body)
    return {p: d for p, d in image.platforms if d == index.digest}


def _platform_manifest(image: ImageRecord, digest: str, how: oci.Access) -> oci.Manifest:
    host, repository = oci.split_ref(image.repository)
    found = oci.fetch_manifest(host, repository, digest, how)
    if found is None:
        raise PublishError(
            f"{image.platform_ref(digest)} is not in the registry, though the release recorded "
            f"it as a platform of {image.name}. Push the image again, then resume the release."
        )
    return found


def _check_listed(image: ImageRecord, index: oci.Manifest) -> None:
    served = listed(image, index)
    recorded = dict(image.platforms)
    if served != recorded:
        shown = ", ".join(f"{p} {d[:19]}…" for p, d in sorted(served.items())) or "none"
        raise ConflictError(
            f"{image.ref} lists the platforms {shown}, but the release recorded "
            f"{', '.join(f'{p} {d[:19]}…' for p, d in sorted(recorded.items()))}. Something "
            "replaced the image: find out what, and release a new version."
        )


def sign_platforms(
    folder: Path,
    image: ImageRecord,
    version: str,
    index: oci.Manifest,
    key: signing.SigningKey,
    how: oci.Access,
    say: Callable[[str], None] = lambda _line: None,
) -> list[str]:
    """Sign every platform manifest of ``image`` and attest its SBOM; one line per platform.

    ``index`` is what the tag names (already checked to be ``image.digest``); it must list
    exactly the recorded platforms.
    """
    _check_listed(image, index)
    actions = []
    for platform, digest in image.platforms:
        ref = image.platform_ref(digest)
        manifest = _platform_manifest(image, digest, how)
        config = str((manifest.body.get("config") or {}).get("digest", ""))
        bom = platform_bom(folder, image.name, version, platform, config)
        if not bom.is_file():
            raise PublishError(
                f"{bom} is missing, so the SBOM of {image.name} for {platform} cannot be "
                "attested. Build the images again (`invoke build.images`), then resume the "
                "release."
            )
        image_sbom.require_subject(bom, manifest.body, ref)
        status = signing.sign(ref, key, how)
        attested = signing.attest(ref, bom, signing.SBOM_TYPE, key, how)
        actions.append(f"image {image.name} {platform}: {status}, SBOM {attested}")
        say(actions[-1])
    return actions


def platform_rows(
    image: ImageRecord,
    version: str,
    index: oci.Manifest | None,
    public: Path | None,
    how: oci.Access,
    verdict: Callable[[str, str], str],
    folder: Path,
) -> list[Row]:
    """One row per recorded platform of ``image``: listed by the index, signed, SBOM attested.

    ``index`` is what the tag names now (None when it names nothing); ``verdict(name,
    digest)`` is the provenance's word on a subject.
    """
    served = listed(image, index) if index is not None else {}
    rows = []
    for platform, digest in image.platforms:
        name, ref = f"{image.name} ({platform})", image.platform_ref(digest)
        found = served.get(platform, "")
        if not found:
            check = "the index the tag names does not list this platform"
        elif found != digest:
            check = f"the index lists {found[:19]}…, the release recorded {digest[:19]}…"
        else:
            check = OK
        proven = verdict(subject_name(image.repository, platform), digest)
        own = folder / "sbom" / image_sbom.sbom_name(image.name, version, platform)
        if public is None:
            rows.append(Row(name, ref, found, check, NA, NA, proven))
            continue
        why = signing.verify(ref, public, how)
        rows.append(
            Row(name, ref, found, check, why or OK, _sbom_verdict(ref, public, how, own), proven)
        )
    return rows


def _sbom_verdict(ref: str, public: Path, how: oci.Access, bom: Path) -> str:
    """The SBOM attestation of ``ref``: present, signed, and ``bom`` when that file exists."""
    predicates, bad = signing.attested_predicates(ref, public, signing.SBOM_TYPE, how)
    if bad is None and not predicates:
        return "no SBOM attestation"
    if bad is None and bom.is_file() and json.loads(bom.read_text("utf-8")) not in predicates:
        return f"the attested SBOM is not {bom.name}"
    return bad or OK
