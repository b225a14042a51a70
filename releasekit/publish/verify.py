"""`invoke verify`: what the destinations serve now is what was released, and signed.

For every artifact of a release record (``Record``) the destination is asked, never the
local build: each wheel and sdist is downloaded from the index and hashed; each image tag
and chart tag is resolved in its registry; the digests are compared with the record. Each
image and chart must carry a cosign signature by the release key, each image a signed
CycloneDX SBOM attestation; the SLSA provenance must verify with the same key and name
every artifact with its digest. Files that ship as release assets (binary, site, SBOMs)
are hashed where they lie (``dist/<version>/`` or the downloaded assets).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from releasekit.core import http
from releasekit.core.errors import HttpError, PublishError, VerificationError
from releasekit.core.files import file_sha256
from releasekit.publish import oci, provenance, signing
from releasekit.publish.index import dist_name, index_files
from releasekit.publish.supply_chain import (
    ChartRecord,
    ImageRecord,
    Record,
)

__all__ = [
    "OK",
    "Row",
    "failures",
    "raise_on_failure",
    "verify_release",
]

OK = "ok"
NA = "-"
_WORKERS = 4
_UNSIGNED: dict[str, str] = {}


@dataclass(frozen=True)
class Row:
    """One artifact: where it was checked, the digest found there, and each check's verdict."""

    artifact: str
    destination: str
    digest: str
    digest_check: str = OK
    signature: str = NA
    sbom: str = NA
    provenance: str = NA

    @property
    def problems(self) -> list[str]:
        """``what: why`` for every check that did not pass."""
        checks = (
            ("digest", self.digest_check),
            ("signature", self.signature),
            ("SBOM attestation", self.sbom),
            ("provenance", self.provenance),
        )
        return [f"{what}: {verdict}" for what, verdict in checks if verdict not in (OK, NA)]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact,
            "destination": self.destination,
            "digest": self.digest,
            "digest_check": self.digest_check,
            "signature": self.signature,
            "sbom": self.sbom,
            "provenance": self.provenance,
            "ok": self.ok,
        }


def _named(subjects: dict[str, str] | None, name: str, digest: str) -> str:
    """The provenance verdict for ``name`` at ``digest`` (hex or ``sha256:hex``).

    ``_UNSIGNED`` stands for a release without a key (nothing to check), ``None`` for a
    provenance that did not verify.
    """
    if subjects is _UNSIGNED:
        return NA
    if subjects is None:
        return "provenance not verified (see its row)"
    want = digest.removeprefix("sha256:")
    if name not in subjects:
        return "not named in the provenance"
    if subjects[name] != want:
        return f"provenance names sha256:{subjects[name][:12]}…, not this digest"
    return OK


def _download_sha256(url: str) -> str:
    digest = hashlib.sha256()
    try:
        http.get(url, timeout=60, sink=digest.update).raise_for_status()
    except HttpError as exc:
        raise PublishError(f"Cannot download {http.public_url(url)}: {exc.reason}.") from None
    return digest.hexdigest()


def _python_row(
    name: str, sha256: str, index: str, subjects: dict[str, str] | None, signed: str
) -> Row:
    try:
        url = index_files(index, dist_name(name)).get(name)
        served = _download_sha256(url) if url else ""
    except PublishError as exc:
        return Row(
            name, index, "", str(exc), signed, NA, _named(subjects, f"python/{name}", sha256)
        )
    if not served:
        check = "not on the index"
    elif served != sha256:
        check = f"index serves sha256:{served[:12]}…, the release recorded sha256:{sha256[:12]}…"
    else:
        check = OK
    shown = f"sha256:{served}" if served else ""
    return Row(name, index, shown, check, signed, NA, _named(subjects, f"python/{name}", served))


def _image_row(
    image: ImageRecord,
    version: str,
    public: Path | None,
    how: oci.Access,
    subjects: dict[str, str] | None,
    bom: Path,
) -> Row:
    where = f"{image.repository}:{version}"
    try:
        host, repository = oci.split_ref(image.repository)
        manifest = oci.fetch_manifest(host, repository, version, how)
    except PublishError as exc:
        return Row(image.name, where, "", str(exc))
    served = manifest.digest if manifest else ""
    if not served:
        check = "tag not in the registry"
    elif served != image.digest:
        check = f"tag names {served[:19]}…, the release recorded {image.digest[:19]}…"
    else:
        check = OK
    if public is None:
        return Row(image.name, where, served, check)
    why = signing.verify(image.ref, public, how)
    predicates, bad = signing.attested_predicates(image.ref, public, signing.SBOM_TYPE, how)
    if bad is None and not predicates:
        bad = "no SBOM attestation"
    if bad is None and bom.is_file() and json.loads(bom.read_text("utf-8")) not in predicates:
        bad = f"the attested SBOM is not {bom.name}"
    return Row(
        image.name,
        where,
        served,
        check,
        why or OK,
        bad or OK,
        _named(subjects, image.repository, image.digest),
    )


def _chart_row(
    chart: ChartRecord, public: Path | None, how: oci.Access, subjects: dict[str, str] | None
) -> Row:
    try:
        host, repository = oci.split_ref(chart.repository)
        manifest = oci.fetch_manifest(host, repository, chart.tag, how)
    except PublishError as exc:
        return Row(chart.archive, chart.ref, "", str(exc))
    if manifest is None:
        return Row(chart.archive, chart.ref, "", "tag not in the chart registry")
    layers = manifest.layer_digests(oci.CHART_LAYER)
    check = OK
    if chart.digest and manifest.digest != chart.digest:
        check = f"tag names {manifest.digest[:19]}…, the release recorded {chart.digest[:19]}…"
    elif layers != [f"sha256:{chart.sha256}"]:
        check = f"chart archive is {(layers or ['none'])[0][:19]}…, not sha256:{chart.sha256[:12]}…"
    if public is None:
        return Row(chart.archive, chart.ref, manifest.digest, check)
    why = signing.verify(f"{chart.repository}@{manifest.digest}", public, how)
    return Row(
        chart.archive,
        chart.ref,
        manifest.digest,
        check,
        why or OK,
        NA,
        _named(subjects, chart.repository, chart.digest or manifest.digest),
    )


def _file_row(
    rel: str, sha256: str, folder: Path, subjects: dict[str, str] | None, signed: str
) -> Row:
    path = folder / rel
    if not path.is_file():
        return Row(rel, "not fetched", "", NA, signed, NA, _named(subjects, rel, sha256))
    found = file_sha256(path)
    check = OK if found == sha256 else f"sha256:{found[:12]}…, SHA256SUMS says {sha256[:12]}…"
    where = _shown(folder)
    return Row(rel, where, f"sha256:{found}", check, signed, NA, _named(subjects, rel, found))


def _shown(folder: Path) -> str:
    """``dist/<version>`` when the folder is the working tree's, else the full path."""
    try:
        return str(folder.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)


def verify_release(
    record: Record,
    folder: Path,
    public: Path | None,
    how: oci.Access,
    index: str,
    say: Callable[[str], None] = lambda _line: None,
) -> list[Row]:
    """One row per artifact of ``record`` (the provenance first); nothing is changed.

    Without a ``public`` key (a target that does not sign) only the digests are checked.
    """
    path = folder / provenance.FILENAME
    rows: list[Row] = []
    subjects: dict[str, str] | None = _UNSIGNED
    signed = NA
    if public is not None:
        envelope, why = (
            provenance.check(path, public)
            if path.is_file()
            else (None, f"{path} is missing (fetch the release assets)")
        )
        subjects = envelope.subjects if envelope is not None and why is None else None
        shown = f"sha256:{file_sha256(path)}" if path.is_file() else ""
        rows.append(Row(provenance.FILENAME, _shown(folder), shown, OK, why or OK))
        signed = OK if subjects is not None else "provenance not verified"
    python = {f"python/{name}" for name in record.python}
    jobs: list[Callable[[], Row]] = []
    for name, sha256 in sorted(record.python.items()):
        jobs.append(partial(_python_row, name, sha256, index, subjects, signed))
    for image in record.images:
        bom = folder / "sbom" / f"{image.name}-{record.version}.cdx.json"
        jobs.append(partial(_image_row, image, record.version, public, how, subjects, bom))
    for chart in record.charts:
        jobs.append(partial(_chart_row, chart, public, how, subjects))
    for rel, sha256 in sorted(record.files.items()):
        if Path(rel).name not in provenance.METADATA and rel not in python:
            jobs.append(partial(_file_row, rel, sha256, folder, subjects, signed))
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for row in pool.map(lambda job: job(), jobs):
            say(f"{row.artifact}: {'ok' if row.ok else '; '.join(row.problems)}")
            rows.append(row)
    return rows


def failures(rows: list[Row]) -> list[str]:
    """``artifact (destination): what: why`` for every failed check."""
    return [
        f"{row.artifact} ({row.destination}): {problem}" for row in rows for problem in row.problems
    ]


def raise_on_failure(rows: list[Row], version: str) -> None:
    """VerificationError naming every failed artifact and check."""
    found = failures(rows)
    if found:
        raise VerificationError(
            f"Release {version} does not verify ({len(found)} failed "
            f"{'check' if len(found) == 1 else 'checks'}):\n  "
            + "\n  ".join(found)
            + "\nWhat a destination serves is no longer what was released, or is not signed by "
            "the release key: find out why, and release a new version rather than re-pushing "
            "this one."
        )
