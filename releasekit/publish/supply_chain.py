"""Sign what a release published: images and charts by digest, image SBOMs, the provenance.

``Record`` (releasekit.publish.record) is the release record that is signed.
``sign_release`` asks the registry what each tag names before it signs
anything, signs by digest, attests each image's CycloneDX SBOM, and writes the signed SLSA
provenance and the public key into the release folder. Each part is skipped when the
destination already holds it signed by the same key, so a resumed release signs nothing
twice. ``release_key`` finds the key of a target: the sandbox's own pair, or the
variables a ``[targets.NAME]`` table names.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from releasekit import __version__
from releasekit.build import checksums
from releasekit.build.images import sbom as image_sbom
from releasekit.core.errors import ConflictError, PreflightError, PublishError, ReleaseError
from releasekit.core.files import file_sha256
from releasekit.core.manifest import load as load_manifest
from releasekit.core.run import register_secret
from releasekit.core.workspace import sandbox_home
from releasekit.publish import oci, platform_images, provenance, signing, third_party
from releasekit.publish.builder import builder, now, stamp
from releasekit.publish.provenance import Subject
from releasekit.publish.record import ChartRecord, ImageRecord, Record
from releasekit.publish.targets import Target

__all__ = [
    "ChartRecord",
    "ImageRecord",
    "Record",
    "Signed",
    "access",
    "build_facts",
    "builder",
    "chart_digest",
    "files_of",
    "release_key",
    "release_record",
    "sign_published",
    "sign_release",
    "signs",
    "stamp",
    "subjects",
]

_SIGNERS = 4  # cosign calls at once while signing


@dataclass(frozen=True)
class Signed:
    """What ``sign_release`` did: one line per artifact, the charts with digests, the files."""

    actions: tuple[str, ...]
    charts: dict[str, dict[str, str]]
    provenance: Path
    public_key: Path


def access(target: Target) -> oci.Access:
    """How to reach the target's registry (plain HTTP, credentials)."""
    return oci.Access(target.plain_http, target.registry_username, target.registry_password)


def signs(target: Target) -> bool:
    """True when ``target`` has a release key: the sandbox always, a table that names one."""
    return target.kind == "sandbox" or bool(target.signing_key_env)


def release_key(root: Path, target: Target) -> signing.SigningKey:
    """The release key of ``target``: the sandbox's pair, or the variables its table names."""
    if target.kind == "sandbox":
        private, pair_public, pair_password = signing.ensure_key_pair(sandbox_home(root) / "keys")
        return signing.SigningKey(str(private), pair_public, pair_password)
    if not target.signing_key_env:
        raise PreflightError(
            f"Target `{target.name}` names no signing key: set `signing_key_env` (the variable "
            "holding a cosign private key, PEM) and `signing_password_env` (the variable holding "
            f"its password) in [targets.{target.name}] of release.toml."
        )
    for variable in (target.signing_key_env, target.signing_password_env):
        if variable and not os.environ.get(variable):
            raise PreflightError(
                f"Target `{target.name}` reads its signing key from {variable}, which is not "
                f"set. Export {variable} (in CI: from a secret) and run again."
            )
    password = (
        os.environ.get(target.signing_password_env, "") if target.signing_password_env else ""
    )
    register_secret(password)
    register_secret(os.environ.get(target.signing_key_env))
    # cosign reads the key itself from the variable; its public half is derived once.
    public = root / "build" / "release" / f"{target.name}.cosign.pub"
    key = signing.SigningKey(f"env://{target.signing_key_env}", public, password)
    signing.public_key(key, public)
    return key


def subjects(record: Record) -> list[Subject]:
    """Every artifact of the release: files of SHA256SUMS, images and charts by digest (and
    the images it keeps from earlier releases: the whole set a deploy of it runs)."""
    found = [
        Subject(name, digest)
        for name, digest in record.files.items()
        if Path(name).name not in provenance.METADATA
    ]
    found += [
        Subject(i.repository, i.digest.removeprefix("sha256:"))
        for i in (*record.images, *record.kept)
    ]
    found += [
        Subject(
            platform_images.subject_name(i.repository, platform), digest.removeprefix("sha256:")
        )
        for i in record.images
        for platform, digest in i.platforms
    ]
    found += [
        Subject(c.repository, c.digest.removeprefix("sha256:")) for c in record.charts if c.digest
    ]
    return sorted(set(found))


def chart_digest(chart: ChartRecord, how: oci.Access) -> str:
    """The manifest digest the registry serves for ``chart``, once its archive is checked."""
    host, repository = oci.split_ref(chart.repository)
    manifest = oci.fetch_manifest(host, repository, chart.tag, how)
    if manifest is None:
        raise PublishError(f"{chart.ref} is not in the chart registry: push the charts again.")
    layers = manifest.layer_digests(oci.CHART_LAYER)
    if layers != [f"sha256:{chart.sha256}"]:
        raise ConflictError(
            f"{chart.ref} holds the chart archive {', '.join(layers) or '(none)'}, not "
            f"{chart.archive} (sha256:{chart.sha256}) of this release. Something replaced it: "
            "find out what, and release a new version."
        )
    return manifest.digest


def _check_image(image: ImageRecord, version: str, how: oci.Access, bom: Path) -> oci.Manifest:
    """What ``image``'s tag names, once it is the recorded digest (and ``bom`` describes it)."""
    host, repository = oci.split_ref(image.repository)
    manifest = oci.fetch_manifest(host, repository, version, how)
    if manifest is None or manifest.digest != image.digest:
        raise ConflictError(
            f"{image.repository}:{version} names {manifest.digest if manifest else 'nothing'}, "
            f"not {image.digest} that this release pushed. Something replaced it: find out "
            "what, and release a new version."
        )
    if not image.platforms:
        image_sbom.require_subject(bom, manifest.body, image.ref)
    return manifest


def _copy_if_changed(source: Path, dest: Path) -> None:
    if not dest.is_file() or dest.read_bytes() != source.read_bytes():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)


def sign_release(
    folder: Path,
    record: Record,
    key: signing.SigningKey,
    how: oci.Access,
    build: Mapping[str, Any],
    say: Callable[[str], None] = lambda _line: None,
) -> Signed:
    """Sign images and charts, attest image SBOMs, write provenance and public key."""

    def one_chart(chart: ChartRecord) -> tuple[ChartRecord, str]:
        done = ChartRecord(chart.archive, chart.ref, chart.sha256, chart_digest(chart, how))
        status = signing.sign(f"{chart.repository}@{done.digest}", key, how)
        say(f"chart {chart.archive}: {status}")
        return done, f"chart {chart.archive}: {status}"

    def one_image(image: ImageRecord) -> list[str]:
        at = image.version_of(record.version)
        bom = folder / "sbom" / image_sbom.sbom_name(image.name, at)
        if not bom.is_file() and not image.platforms:
            raise PublishError(
                f"{bom} is missing, so the SBOM of {image.name} cannot be attested. Build the "
                "images again (`invoke build.images`), then resume the release."
            )
        served = _check_image(image, at, how, bom)
        status = signing.sign(image.ref, key, how)
        if image.platforms:
            say(f"image {image.name} (index): {status}")
            args = (folder, image, at, served, key, how, say)
            return [f"image {image.name} (index): {status}", *platform_images.sign_platforms(*args)]
        attested = signing.attest(image.ref, bom, signing.SBOM_TYPE, key, how)
        say(f"image {image.name}: {status}, SBOM {attested}")
        return [f"image {image.name}: {status}, SBOM {attested}"]

    # Every cosign call waits on the registry: the charts and images are signed side by
    # side, and the lines keep the record's order.
    with ThreadPoolExecutor(max_workers=_SIGNERS) as pool:
        chart_jobs = [pool.submit(one_chart, chart) for chart in record.charts]
        image_jobs = [pool.submit(one_image, image) for image in record.images]
        done = [job.result() for job in chart_jobs]
        image_lines = [line for job in image_jobs for line in job.result()]
    resolved = [chart for chart, _ in done]
    charts = {chart.archive: {**chart.to_json()} for chart in resolved}
    actions = [line for _, line in done] + image_lines
    public = folder / provenance.PUBLIC_KEY
    _copy_if_changed(key.public, public)
    full = replace(record, charts=tuple(resolved))
    path = folder / provenance.FILENAME
    wanted = {s.name: s.sha256 for s in subjects(full)}
    existing, why = provenance.check(path, key.public) if path.is_file() else (None, "absent")
    if (
        why is None
        and existing is not None
        and existing.subjects == wanted
        and provenance.claims(existing.statement, full.version, full.release_tag) is None
    ):
        actions.append(f"provenance: already signed ({len(wanted)} subjects)")
    else:
        provenance.write(path, provenance.envelope(_statement(full, build), key))
        actions.append(f"provenance: signed ({len(wanted)} subjects)")
    say(actions[-1])
    return Signed(tuple(actions), charts, path, public)


def _statement(record: Record, build: Mapping[str, Any]) -> dict[str, Any]:
    deps: list[dict[str, Any]] = [
        {
            "uri": f"git+{build.get('remote', '')}@refs/tags/{record.release_tag.split()[0]}",
            "digest": {"gitCommit": record.commit},
        }
    ]
    for ref, image_id in sorted((build.get("base_images") or {}).items()):
        deps.append({"uri": f"docker-image://{ref}", "digest": {"sha256": image_id.split(":")[-1]}})
    deps += third_party.dependencies(build.get("third_party") or {})
    builder_id, invocation = builder(record.version, record.commit)
    when = str(build.get("started") or now())
    return provenance.statement(
        subjects(record),
        external={
            "version": record.version,
            "tag": record.release_tag,
            "target": build.get("target", ""),
            "options": dict(build.get("options") or {}),
        },
        internal={
            "toolkit": f"releasekit {__version__}",
            "commit": record.commit,
            "tools": dict(build.get("tools") or {}),
            "baseImages": dict(build.get("base_images") or {}),
        },
        dependencies=deps,
        builder_id=builder_id,
        invocation=invocation,
        started=when,
        finished=str(build.get("finished") or when),
    )


def files_of(folder: Path) -> dict[str, str]:
    """SHA256SUMS of ``folder`` as a mapping (empty when there is none)."""
    path = folder / checksums.FILENAME
    return checksums.parse(path) if path.is_file() else {}


def release_record(folder: Path) -> Record:
    """The record of a finished release: ``folder/release.json`` and its SHA256SUMS."""
    path = folder / "release.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PreflightError(
            f"{path} does not exist: no release of that version was made here. Pass the "
            "released --version, or fetch the release assets (GH_TOKEN, GITHUB_REPOSITORY)."
        ) from None
    except ValueError as exc:
        raise PreflightError(f"{path} is not valid JSON ({exc}); fetch it again.") from None
    return Record.from_data(data, files_of(folder))


def build_facts(
    target: str,
    options: Mapping[str, Any],
    remote: str,
    started: str | None,
    finished: str | None = None,
    pinned: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the provenance says about the build: options, tool versions, base images.

    ``started`` and ``finished`` are the times the provenance states (a release passes its
    commit's time for both, so a re-run states the same); unset, the clock's.
    """
    from releasekit.build import images
    from releasekit.core import doctor

    tools = {"python": platform.python_version(), "cosign": signing.COSIGN_VERSION}
    for tool in doctor.TOOLS:
        if tool.name in {"docker", "helm"}:
            found = doctor.check_tool(tool)
            if found.version:
                tools[tool.name] = found.version
    for dist in ("build", "hatchling", "pyinstaller", "twine", "cyclonedx-python-lib", "uv"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            tools[dist] = metadata.version(dist)
    bases: dict[str, str] = {}
    with contextlib.suppress(ReleaseError):
        for base in images.resolve_base_images(images.connect(), pinned=pinned).values():
            bases[base.ref] = base.id
    return {
        "target": target,
        "options": dict(options),
        "remote": remote,
        "started": started,
        "finished": finished,
        "tools": tools,
        "base_images": bases,
    }


def sign_published(
    root: Path,
    version: str,
    target: Target,
    published: Mapping[str, Any],
    options: Mapping[str, Any],
    started: str | None = None,
    say: Callable[[str], None] = lambda _line: None,
    files: Mapping[str, str] | None = None,
) -> tuple[Signed, signing.SigningKey]:
    """Sign what the release steps published (their outputs in ``published``).

    ``files`` are the release's files and their sha256 (a release passes what it recorded,
    each hashed again); without it, the files of the folder as they are.
    """
    folder = root / "dist" / version
    if files is None:
        files = {
            rel: file_sha256(folder / rel)
            for rel in checksums.release_files(folder)
            if Path(rel).name not in provenance.METADATA
        }
    data = {**published, "version": version}
    record = Record.from_data(data, files)
    key = release_key(root, target)
    pinned = load_manifest(root).base_images
    remote = str(published.get("remote", ""))
    facts = build_facts(target.name, options, remote, started, started, pinned)
    facts["third_party"] = dict(published.get("third_party") or {})
    return sign_release(folder, record, key, access(target), facts, say), key
