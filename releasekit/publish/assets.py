"""Release assets: the files a GitHub release carries, and their idempotent upload.

The binary, SHA256SUMS, the SBOMs, the site tarball, the release notes, the release's
record (images.json, release.json), the signed provenance and the release's public key of
``dist/<version>/`` are attached to the GitHub release of tag ``v<version>``. A release of
several packages (policy independent) gives each package's release (tag
``<package>-v<version>``) only that package's files (its binary, site tarball, wheel,
sdist and SBOMs, as release.json's registry assigns them) and the release's shared
records, which are enough for `invoke verify` from that release alone. ``fetch`` brings the
record back for a deploy elsewhere, ``download`` every asset for `invoke verify` in a clone
that built nothing. The token comes from GH_TOKEN (or GITHUB_TOKEN), the repository from
GITHUB_REPOSITORY and the API from GITHUB_API_URL (default api.github.com), as in GitHub
Actions. Every asset is hashed again against SHA256SUMS before it goes. An asset
already attached with the same sha256 is skipped (GitHub's digest, or the attached bytes
downloaded and hashed when it gives none), as is a provenance stating the same signed
statement; a different one is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from releasekit.build import checksums
from releasekit.core import http
from releasekit.core.artifact import Artifact, kind_of
from releasekit.core.errors import ConflictError, PreflightError, PublishError
from releasekit.core.files import file_sha256
from releasekit.core.recorded import check_unknown, rehashed

__all__ = ["API", "RECORD", "SHARED", "Asset", "attach", "collect", "download", "fetch"]

API = "https://api.github.com"
"""GitHub's API; GITHUB_API_URL (GitHub Enterprise Server, GitHub Actions) replaces it."""
RECORD = ("images.json", "release.json")
"""The release's record among its assets: what a deploy pins images from."""
_UNLISTED = ("release.json", checksums.PROVENANCE)
"""Assets SHA256SUMS does not list: release.json (written after it) and the provenance
(checked by its signature)."""
_PATTERNS = (
    "bin/*",
    "SHA256SUMS",
    "sbom/*.cdx.json",
    "site/*.tar.gz",
    "RELEASE_NOTES.md",
    *RECORD,
    "provenance.intoto.jsonl",
    "cosign.pub",
)
_OWN = ("python/*",)
"""A package's wheel and sdist: attached to its own release only (the index serves them)."""
SHARED = (
    checksums.FILENAME,
    "RELEASE_NOTES.md",
    *RECORD,
    checksums.PROVENANCE,
    "cosign.pub",
)
"""The release's records every package's release carries: what `invoke verify` starts from
(the signed provenance, SHA256SUMS, release.json, images.json) and the notes."""


@dataclass(frozen=True)
class Asset:
    """One file to attach: its path, name on the release, and sha256."""

    path: Path
    name: str
    sha256: str


def _owners(folder: Path, package: str) -> dict[str, str]:
    """``{path: package}`` of the files of the release in ``folder`` (release.json's
    ``registry`` names the package of each file a build made), once release.json's
    ``packages`` show that the release released ``package``."""
    path = folder / "release.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PreflightError(
            f"{path} cannot be read ({exc}): the assets of {package} are told from the other "
            "packages' by its registry. Finish the release (`invoke release --resume`) first."
        ) from None
    registry = data.get("registry") if isinstance(data, dict) else None
    released = (data.get("packages") or {}) if isinstance(data, dict) else {}
    if not isinstance(registry, list) or package not in released:
        raise PreflightError(
            f"{path} does not record a release of {package} (`packages` names "
            f"{', '.join(sorted(released)) or 'none'}, and its `registry` gives each file's "
            f"package): attach it under the tag of a package it released (`invoke "
            "release.assets --tag PACKAGE-vX.Y.Z`)."
        )
    return {
        str(e["path"]): str(e["package"])
        for e in registry
        if isinstance(e, dict) and e.get("path") and e.get("package")
    }


def collect(folder: Path, package: str | None = None) -> list[Asset]:
    """The assets of one release folder (dist/<version>/), in a stable order.

    With ``package`` (for that package's own tag, in a release of several packages), only
    its files (binary, site tarball, wheel, sdist, SBOMs) and the release's ``SHARED`` records.
    Each asset is a file SHA256SUMS lists, hashed again (``rehashed``): one that changed
    since, or one SHA256SUMS does not list, is refused (VerificationError, exit 11).
    SHA256SUMS and release.json, which the release writes last, are the record itself.
    """
    sums = folder / checksums.FILENAME
    if not sums.is_file():
        raise PreflightError(
            f"{folder} holds no SHA256SUMS: it is not a finished release. Run `invoke release` "
            "(or `invoke build`) first."
        )
    patterns = _PATTERNS if package is None else (*_PATTERNS, *_OWN)
    files = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
    if package is not None:
        owner = _owners(folder, package)
        files = [
            p
            for p in files
            if p.relative_to(folder).as_posix() in SHARED
            or owner.get(p.relative_to(folder).as_posix()) == package
        ]
    listed = [
        Artifact(kind_of(rel), rel, path=rel, sha256=digest)
        for rel, digest in checksums.parse(sums).items()
    ]
    present = [p.relative_to(folder).as_posix() for p in files]
    check_unknown(folder, present, listed, allowed=(checksums.FILENAME, *_UNLISTED))
    by_path = {a.path: a for a in listed}
    found = []
    for path, rel in zip(files, present, strict=True):
        if rel in by_path:
            rehashed(folder, by_path[rel])
        found.append(Asset(path, path.name, file_sha256(path)))
    return found


def _statement(data: bytes) -> bytes | None:
    """The signed payload of a DSSE envelope (``.intoto.jsonl``), or None when it is none."""
    try:
        first = data.decode("utf-8").splitlines()[0]
        return base64.b64decode(json.loads(first)["payload"], validate=True)
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _same(asset: Asset, attached: bytes | None, digest: str) -> bool:
    """True when the attached asset is ``asset``: the same sha256, or the same signed statement.

    A signature (ECDSA) differs at every signing; a provenance that states the same
    statement signed by the release key is the same provenance.
    """
    if digest == f"sha256:{asset.sha256}":
        return True
    if attached is None or not asset.name.endswith(".intoto.jsonl"):
        return False
    theirs = _statement(attached)
    return theirs is not None and theirs == _statement(asset.path.read_bytes())


@dataclass(frozen=True)
class _GitHub:
    """The GitHub API with the token: every request sends it and asks for API JSON."""

    auth: http.Auth

    def request(self, method: str, url: str, **options: Any) -> http.Response:
        headers = {"Accept": "application/vnd.github+json", **options.pop("headers", {})}
        return http.request(method, url, headers=headers, auth=self.auth, **options)

    def get(self, url: str, **options: Any) -> http.Response:
        return self.request("GET", url, **options)


def _api(api: str | None) -> str:
    """``api``, else GITHUB_API_URL, else GitHub's own API."""
    return (api or os.environ.get("GITHUB_API_URL") or API).rstrip("/")


def _session() -> tuple[_GitHub, str]:
    token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN") or ""
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    if not token or not repo:
        missing = " and ".join(
            name for name, value in (("GH_TOKEN", token), ("GITHUB_REPOSITORY", repo)) if not value
        )
        raise PreflightError(
            f"{missing} not set: release assets go to the GitHub release of GITHUB_REPOSITORY "
            "(owner/name) with the token in GH_TOKEN. Export them (GitHub Actions sets "
            "GITHUB_REPOSITORY; pass GH_TOKEN from secrets.GITHUB_TOKEN)."
        )
    return _GitHub(http.Auth.bearer(token)), repo


def _check(response: http.Response, what: str) -> Any:
    if response.status >= 400:
        raise PublishError(
            f"GitHub refused to {what}: HTTP {response.status} {response.text()[:300]}"
        )
    return response.json() if response.body else {}


def attach(
    folder: Path,
    tag: str,
    notes: str,
    *,
    prerelease: bool = False,
    package: str | None = None,
    api: str | None = None,
    say: Callable[[str], None] = print,
) -> list[tuple[Asset, str]]:
    """Create the release of ``tag`` if missing and attach every asset not attached yet
    (with ``package``, that package's assets: see ``collect``)."""
    assets = collect(folder, package)
    session, repo = _session()
    base = f"{_api(api)}/repos/{repo}/releases"
    found = session.get(f"{base}/tags/{quote(tag)}", timeout=30)
    if found.status == 404:
        body = {"tag_name": tag, "name": tag, "body": notes, "prerelease": prerelease}
        created = session.request("POST", base, json_body=body, timeout=30)
        release = _check(created, f"create release {tag}")
    else:
        release = _check(found, f"read release {tag}")
    present = {a["name"]: a for a in release.get("assets", [])}
    upload = str(release["upload_url"]).split("{", 1)[0]
    results = []
    for asset in assets:
        existing = present.get(asset.name)
        if existing is not None:
            digest = str(existing.get("digest") or "")
            attached = None
            if digest != f"sha256:{asset.sha256}":
                attached = _download(session, str(existing["url"]), asset.name, tag)
                digest = f"sha256:{hashlib.sha256(attached).hexdigest()}"
            if not _same(asset, attached, digest):
                raise ConflictError(
                    f"Release {tag} already has an asset {asset.name} with different content "
                    f"({digest}; local sha256:{asset.sha256}). Delete that asset on GitHub if "
                    "it is wrong, or release a new version."
                )
            results.append((asset, "skipped"))
            say(f"{asset.name}: already attached")
            continue
        with asset.path.open("rb") as handle:
            response = session.request(
                "POST",
                f"{upload}?name={quote(asset.name)}",
                data=handle,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(asset.path.stat().st_size),
                },
                timeout=600,
            )
        _check(response, f"upload {asset.name}")
        results.append((asset, "uploaded"))
        say(f"{asset.name}: uploaded")
    return results


def _download(session: _GitHub, url: str, name: str, tag: str) -> bytes:
    """The bytes of the attached asset at ``url``."""
    response = session.get(url, headers={"Accept": "application/octet-stream"}, timeout=600)
    if response.status >= 400:
        raise PublishError(f"GitHub refused to send {name} of {tag}: {response.status}")
    return response.body


def fetch(
    tag: str, folder: Path, names: tuple[str, ...] = RECORD, *, api: str | None = None
) -> list[Path]:
    """Download the assets ``names`` of the GitHub release of ``tag`` into ``folder``."""
    session, repo = _session()
    found = session.get(f"{_api(api)}/repos/{repo}/releases/tags/{quote(tag)}", timeout=30)
    if found.status == 404:
        raise PreflightError(
            f"{repo} has no GitHub release {tag}: nothing records what it shipped. Release it "
            "first (`invoke release`, then `invoke release.assets`)."
        )
    attached = {a["name"]: a for a in _check(found, f"read release {tag}").get("assets", [])}
    missing = [name for name in names if name not in attached]
    if missing:
        raise PreflightError(
            f"The GitHub release {tag} of {repo} lacks {', '.join(missing)}. Attach the "
            f"release's record with `invoke release.assets --tag {tag}` from its dist/ folder."
        )
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        response = session.get(
            str(attached[name]["url"]),
            headers={"Accept": "application/octet-stream"},
            timeout=120,
        )
        if response.status >= 400:
            raise PublishError(f"GitHub refused to send {name} of {tag}: {response.status}")
        (folder / name).write_bytes(response.body)
        written.append(folder / name)
    return written


def download(
    tag: str, dest: Path, *, api: str | None = None, say: Callable[[str], None] = print
) -> Path:
    """Every asset of the GitHub release of ``tag`` into ``dest``, at its SHA256SUMS path."""
    session, repo = _session()
    release = _check(
        session.get(f"{_api(api)}/repos/{repo}/releases/tags/{quote(tag)}", timeout=30),
        f"read release {tag}",
    )
    found = {str(a["name"]): str(a["url"]) for a in release.get("assets", [])}

    def get(name: str) -> bytes:
        response = session.get(
            found[name], headers={"Accept": "application/octet-stream"}, timeout=600
        )
        if response.status >= 400:
            raise PublishError(f"GitHub refused to send {name} of {tag}: {response.status}")
        return response.body

    if "SHA256SUMS" not in found:
        raise PreflightError(f"The GitHub release {tag} of {repo} has no SHA256SUMS asset.")
    dest.mkdir(parents=True, exist_ok=True)
    sums = get("SHA256SUMS")
    (dest / "SHA256SUMS").write_bytes(sums)
    where = {Path(rel).name: rel for rel in checksums.parse(dest / "SHA256SUMS")}
    for name in found:
        if name == "SHA256SUMS":
            continue
        path = dest / where.get(name, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(get(name))
        say(f"{name}: downloaded")
    return dest
