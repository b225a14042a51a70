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
from functools import partial
from pathlib import Path

from releasekit.build.images.sbom import sbom_name
from releasekit.core import http
from releasekit.core.errors import HttpError, PublishError
from releasekit.core.files import file_sha256
from releasekit.publish import oci, provenance, signing
from releasekit.publish.agreement import (
    UNSIGNED,
    covered,
    images_rows,
    named,
    provenance_row,
    shown,
    uncovered_rows,
)
from releasekit.publish.index import dist_name, index_files
from releasekit.publish.platform_images import platform_rows
from releasekit.publish.rows import NA, OK, Row, failures, raise_on_failure
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

_WORKERS = 4


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
        return Row(name, index, "", str(exc), signed, NA, named(subjects, f"python/{name}", sha256))
    if not served:
        check = "not on the index"
    elif served != sha256:
        check = f"index serves sha256:{served[:12]}…, the release recorded sha256:{sha256[:12]}…"
    else:
        check = OK
    shown = f"sha256:{served}" if served else ""
    return Row(name, index, shown, check, signed, NA, named(subjects, f"python/{name}", served))


def _image_rows(
    image: ImageRecord,
    version: str,
    public: Path | None,
    how: oci.Access,
    subjects: dict[str, str] | None,
    folder: Path,
) -> list[Row]:
    """The image's row (what its tag names), then one row per platform of its index."""
    where = f"{image.repository}:{version}"
    try:
        host, repository = oci.split_ref(image.repository)
        manifest = oci.fetch_manifest(host, repository, version, how)
    except PublishError as exc:
        return [Row(image.name, where, "", str(exc))]
    row = _image_row(image, version, public, how, subjects, folder, manifest)
    if not image.platforms:
        return [row]
    verdict = partial(named, subjects)
    return [row, *platform_rows(image, version, manifest, public, how, verdict, folder)]


def _image_row(
    image: ImageRecord,
    version: str,
    public: Path | None,
    how: oci.Access,
    subjects: dict[str, str] | None,
    folder: Path,
    manifest: oci.Manifest | None,
) -> Row:
    where = f"{image.repository}:{version}"
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
    if image.platforms:  # each platform's SBOM is attested onto its manifest: see its row
        proven = named(subjects, image.repository, image.digest)
        return Row(image.name, where, served, check, why or OK, NA, proven)
    bom = folder / "sbom" / sbom_name(image.name, version)
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
        named(subjects, image.repository, image.digest),
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
        named(subjects, chart.repository, chart.digest or manifest.digest),
    )


def _file_row(
    rel: str, sha256: str, folder: Path, subjects: dict[str, str] | None, signed: str
) -> Row:
    path = folder / rel
    if not path.is_file():
        return Row(rel, "not fetched", "", NA, signed, NA, named(subjects, rel, sha256))
    found = file_sha256(path)
    check = OK if found == sha256 else f"sha256:{found[:12]}…, SHA256SUMS says {sha256[:12]}…"
    where = shown(folder)
    return Row(rel, where, f"sha256:{found}", check, signed, NA, named(subjects, rel, found))


def verify_release(
    record: Record,
    folder: Path,
    public: Path | None,
    how: oci.Access,
    index: str,
    say: Callable[[str], None] = lambda _line: None,
    version: str | None = None,
) -> list[Row]:
    """One row per artifact of ``record`` (the provenance first); nothing is changed.

    The provenance must be signed by ``public`` and name ``version`` (default: the
    record's) and the record's tag; every record entry must be a subject with its digest,
    and every subject must be listed by a record and found at its destination or in
    ``folder``. Without a ``public`` key (a target that does not sign) only the digests are
    checked.
    """
    wanted = version or record.version
    rows: list[Row] = []
    if record.version != wanted:
        found = f"names version {record.version}, not {wanted}"
        rows.append(Row("release.json", shown(folder), "", found))
    subjects: dict[str, str] | None = UNSIGNED
    signed = NA
    if public is not None:
        row, subjects = provenance_row(folder, public, wanted, record.release_tag)
        rows.append(row)
        signed = OK if row.ok else "provenance not verified"
    for row in rows:
        say(f"{row.artifact}: {'ok' if row.ok else '; '.join(row.problems)}")
    python = {f"python/{name}" for name in record.python}
    jobs: list[Callable[[], Row]] = []
    for name, sha256 in sorted(record.python.items()):
        jobs.append(partial(_python_row, name, sha256, index, subjects, signed))
    image_jobs = [
        partial(_image_rows, image, image.version_of(record.version), public, how, subjects, folder)
        for image in record.images
    ]
    for chart in record.charts:
        jobs.append(partial(_chart_row, chart, public, how, subjects))
    for rel, sha256 in sorted(record.files.items()):
        if Path(rel).name not in provenance.METADATA and rel not in python:
            jobs.append(partial(_file_row, rel, sha256, folder, subjects, signed))
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        found_rows = list(pool.map(lambda job: job(), jobs))
        found_rows += [row for rows_ in pool.map(lambda job: job(), image_jobs) for row in rows_]
    found_rows += images_rows(folder, record, subjects)
    found_rows += uncovered_rows(subjects, covered(record), folder)
    for row in found_rows:
        say(f"{row.artifact}: {'ok' if row.ok else '; '.join(row.problems)}")
    return rows + found_rows
