"""The signed provenance is the root: the release's records must agree with it, entry for entry.

``provenance_row`` checks the envelope's signature with the key the caller trusts and that
its statement names this version and tag. The unsigned records of the release folder
(``release.json``, ``SHA256SUMS``, ``images.json``) are then held against the provenance's
subjects: an entry the provenance does not name, or names with another digest, fails; so
does a subject no record lists (``uncovered_rows``). ``verify_record`` does this for a
record fetched without its artifacts (``fetch_verified``, `invoke release.fetch`), before
it is written where a deploy reads it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from releasekit.build import checksums
from releasekit.core.artifact import IMAGES_FILE, read_images
from releasekit.core.errors import ManifestError
from releasekit.core.files import file_sha256
from releasekit.publish import assets, platform_images, provenance
from releasekit.publish.rows import NA, OK, Row, raise_on_failure
from releasekit.publish.supply_chain import Record, release_record

__all__ = [
    "UNSIGNED",
    "covered",
    "fetch_verified",
    "images_rows",
    "is_repository",
    "named",
    "provenance_row",
    "shown",
    "uncovered_rows",
    "verify_record",
]

UNSIGNED: dict[str, str] = {}
"""The subjects of a release made without a key: there is nothing to hold the records against."""


def shown(folder: Path) -> str:
    """``dist/<version>`` when the folder is the working tree's, else the full path."""
    try:
        return str(folder.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)


def named(subjects: Mapping[str, str] | None, name: str, digest: str) -> str:
    """The provenance verdict for ``name`` at ``digest`` (hex or ``sha256:hex``).

    ``UNSIGNED`` stands for a release without a key (nothing to check), ``None`` for a
    provenance that did not verify.
    """
    if subjects is UNSIGNED:
        return NA
    if subjects is None:
        return "provenance not verified (see its row)"
    want = digest.removeprefix("sha256:")
    if name not in subjects:
        return "not named in the provenance"
    if subjects[name] != want:
        return f"provenance names sha256:{subjects[name][:12]}…, not this digest"
    return OK


def is_repository(name: str) -> bool:
    """True for an image or chart subject (``HOST[:PORT]/PATH``), False for a file's path."""
    host, slash, _ = name.partition("/")
    return bool(slash) and ("." in host or ":" in host or host == "localhost")


def provenance_row(
    folder: Path, public: Path, version: str, tag: str
) -> tuple[Row, dict[str, str] | None]:
    """The provenance's row and its subjects (None when its signature does not verify)."""
    path = folder / provenance.FILENAME
    where = shown(folder)
    if not path.is_file():
        missing = f"{path} is missing (fetch the release assets)"
        return Row(provenance.FILENAME, where, "", missing, missing), None
    envelope, why = provenance.check(path, public)
    digest = f"sha256:{file_sha256(path)}"
    if why is not None or envelope is None:
        return Row(provenance.FILENAME, where, digest, OK, why or "unreadable"), None
    claim = provenance.claims(envelope.statement, version, tag)
    return Row(provenance.FILENAME, where, digest, OK, OK, NA, claim or OK), envelope.subjects


def images_rows(folder: Path, record: Record, subjects: Mapping[str, str] | None) -> list[Row]:
    """``images.json`` entry for entry against release.json and the provenance."""
    path = folder / IMAGES_FILE
    if not path.is_file():
        return []
    where = shown(path)
    try:
        pins = read_images(path)
    except ManifestError as exc:
        return [Row(IMAGES_FILE, where, "", str(exc))]
    recorded = {image.name: image for image in (*record.kept, *record.images)}
    rows = []
    for name, pin in sorted(pins.items()):
        image = recorded.get(name)
        if image is None:
            check = "not in release.json"
        elif (image.repository, image.digest) != (pin.repository, pin.digest):
            check = f"release.json records {image.repository}@{image.digest[:19]}…"
        else:
            check = OK
        verdict = named(subjects, pin.repository, pin.digest)
        rows.append(Row(f"{IMAGES_FILE}:{name}", where, pin.digest, check, NA, NA, verdict))
    for name, image in sorted(recorded.items()):
        if name not in pins:
            verdict = named(subjects, image.repository, image.digest)
            missing = "missing from images.json"
            rows.append(Row(f"{IMAGES_FILE}:{name}", where, "", missing, NA, NA, verdict))
    return rows


def covered(record: Record) -> set[str]:
    """The subject names the records list: python files, files of SHA256SUMS, repositories."""
    names = {f"python/{name}" for name in record.python}
    names |= {rel for rel in record.files if Path(rel).name not in provenance.METADATA}
    names |= {image.repository for image in (*record.images, *record.kept)}
    names |= {
        platform_images.subject_name(image.repository, platform)
        for image in (*record.images, *record.kept)
        for platform, _ in image.platforms
    }
    names |= {chart.repository for chart in record.charts}
    return names


def uncovered_rows(subjects: Mapping[str, str] | None, listed: set[str], folder: Path) -> list[Row]:
    """A failing row per subject of the provenance that no record lists."""
    if not subjects:
        return []
    rows = []
    for name, sha256 in sorted(subjects.items()):
        if name in listed:
            continue
        if is_repository(name):
            why = "named in the provenance, missing from release.json"
            rows.append(Row(name, "release.json", f"sha256:{sha256}", NA, NA, NA, why))
            continue
        path = folder / name
        if not path.is_file():
            check, digest = "not in the release folder", ""
        else:
            found = file_sha256(path)
            digest = f"sha256:{found}"
            check = (
                OK
                if found == sha256
                else f"sha256:{found[:12]}…, the provenance says sha256:{sha256[:12]}…"
            )
        why = "named in the provenance, missing from SHA256SUMS"
        rows.append(Row(name, shown(folder), digest, check, NA, NA, why))
    return rows


def verify_record(
    folder: Path, record: Record, public: Path | None, version: str, tag: str
) -> list[Row]:
    """The records of ``folder`` (fetched without their artifacts) against the provenance.

    Without a ``public`` key (a target that releases unsigned) only images.json is held
    against release.json.
    """
    rows: list[Row] = []
    if record.version != version:
        found = f"names version {record.version}, not {version}"
        rows.append(Row("release.json", shown(folder), "", found))
    subjects: dict[str, str] | None = UNSIGNED
    if public is not None:
        row, subjects = provenance_row(folder, public, version, tag)
        rows.append(row)
    for name, sha256 in sorted(record.python.items()):
        verdict = named(subjects, f"python/{name}", sha256)
        rows.append(Row(name, "release.json", f"sha256:{sha256}", NA, NA, NA, verdict))
    for image in record.images:
        verdict = named(subjects, image.repository, image.digest)
        rows.append(Row(image.name, "release.json", image.digest, NA, NA, NA, verdict))
        for platform, digest in image.platforms:
            name = platform_images.subject_name(image.repository, platform)
            verdict = named(subjects, name, digest)
            artifact = f"{image.name} ({platform})"
            rows.append(Row(artifact, "release.json", digest, NA, NA, NA, verdict))
    for chart in record.charts:
        verdict = named(subjects, chart.repository, chart.digest)
        rows.append(Row(chart.archive, "release.json", chart.digest, NA, NA, NA, verdict))
    for rel, sha256 in sorted(record.files.items()):
        if Path(rel).name not in provenance.METADATA:
            verdict = named(subjects, rel, sha256)
            rows.append(Row(rel, "SHA256SUMS", f"sha256:{sha256}", NA, NA, NA, verdict))
    rows += images_rows(folder, record, subjects)
    rows += uncovered_rows(subjects, covered(record), folder)
    return rows


def fetch_verified(
    tag: str,
    version: str,
    dest: Path,
    public: Path | None,
    say: Callable[[str], None] = lambda _line: None,
    *,
    api: str | None = None,
) -> list[Path]:
    """The record of release ``tag`` from its GitHub release, verified, then put in ``dest``.

    With a key the signed provenance and SHA256SUMS come too, and nothing is written into
    ``dest`` unless every entry of release.json, SHA256SUMS and images.json agrees with the
    provenance (VerificationError naming each that does not).
    """
    names = (*assets.RECORD, checksums.FILENAME, provenance.FILENAME) if public else assets.RECORD
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as tmp:
        staged = Path(tmp)
        assets.fetch(tag, staged, names, api=api)
        rows = verify_record(staged, release_record(staged), public, version, tag)
        for row in rows:
            say(f"{row.artifact}: {'ok' if row.ok else '; '.join(row.problems)}")
        raise_on_failure(rows, version)
        if public is None:
            say(f"{tag} was released unsigned: its record is taken as it is")
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for name in names:
            (staged / name).replace(dest / name)
            written.append(dest / name)
    return written
