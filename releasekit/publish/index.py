"""Idempotent uploads of Python distributions with twine.

Before uploading a file the index's simple page (``<index>/<project>/``) is asked for it,
as PEP 691 JSON where the index speaks it and as the PEP 503 HTML page where it does not
(pypiserver). A file already there with the same sha256 is skipped; one with different
content is a ConflictError naming both digests (an index never lets a file be replaced,
and a release must not silently ship two different files under one name).

The upload credentials go only to the upload URL: in the environment of the twine process
(never on its command line) and in the preflight's probe of that URL. The index is read
anonymously, unless read credentials are given: those go to the index's own origin only,
never to a file URL the index page links elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from releasekit.core import http
from releasekit.core.errors import ConflictError, HttpError, PreflightError, PublishError
from releasekit.core.files import file_sha256
from releasekit.core.run import register_secret, run

__all__ = ["Uploaded", "check_credentials", "dist_name", "index_files", "upload"]

_TIMEOUT = 30
PEP691_JSON = "application/vnd.pypi.simple.v1+json"
# PEP 691 content negotiation: JSON preferred, the HTML page of PEP 503 accepted.
_ACCEPT = f"{PEP691_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"


@dataclass(frozen=True)
class Uploaded:
    """What happened to one file: ``uploaded`` or ``skipped`` (identical file present)."""

    path: Path
    status: Literal["uploaded", "skipped"]
    sha256: str


def dist_name(filename: str) -> str:
    """The normalized (PEP 503) project name of a wheel or sdist file name."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        if filename.endswith((".tar.gz", ".zip")):
            return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise PublishError(
            f"{filename} is not a valid distribution file name ({exc}); build it with "
            "`invoke build.python`, which names files as the packaging specifications say."
        ) from None
    raise PublishError(
        f"{filename} is neither a wheel (.whl) nor an sdist (.tar.gz); only those are "
        "uploaded to a package index."
    )


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None


def _get(url: str, auth: http.Auth | None, accept: str = "*/*") -> http.Response | None:
    """GET ``url`` from the index (``None`` on 404); PublishError naming URL and status."""
    hint = "Check the index URL (`pypi_index` of the target) and its credentials."
    try:
        answer = http.get(url, headers={"Accept": accept}, auth=auth, timeout=_TIMEOUT)
    except HttpError as exc:
        raise PublishError(
            f"Cannot reach the package index at {http.public_url(url)}: {exc.reason}. Is it "
            "running, and is `pypi_index` of the target right?"
        ) from None
    if answer.status == 404:
        return None
    answer.raise_for_status(hint)
    return answer


def _files(answer: http.Response) -> dict[str, str]:
    """File name -> URL (as the page gives it) of a PEP 691 JSON or PEP 503 HTML page."""
    if answer.headers.get_content_type() == PEP691_JSON:
        page: Any = answer.json()
        files = page.get("files", []) if isinstance(page, dict) else []
        return {str(f["filename"]): str(f["url"]) for f in files if isinstance(f, dict)}
    parser = _Links()
    parser.feed(answer.text())
    return parser.links


def _for(url: str, index_url: str, auth: http.Auth | None) -> http.Auth | None:
    """``auth`` when ``url`` is on the index's own origin, else nothing."""
    return auth if auth is not None and http.same_origin(url, index_url) else None


def index_files(
    index_url: str, project: str, auth: tuple[str, str] | http.Auth | None = None
) -> dict[str, str]:
    """File name -> absolute download URL of ``project`` on the simple index ``index_url``."""
    if isinstance(auth, tuple):
        auth = http.Auth.basic(*auth)
    from packaging.utils import canonicalize_name

    page_url = f"{index_url.rstrip('/')}/{canonicalize_name(project)}/"
    answer = _get(page_url, _for(page_url, index_url, auth), _ACCEPT)
    if answer is None:
        return {}
    return {
        name: urllib.parse.urljoin(answer.url, href.split("#", 1)[0])
        for name, href in _files(answer).items()
    }


def upload(
    files: Sequence[Path],
    repository_url: str,
    username_env: str = "TWINE_USERNAME",
    password_env: str = "TWINE_PASSWORD",
    *,
    index_url: str | None = None,
    auth: tuple[str, str] | None = None,
    read_auth: tuple[str, str] | None = None,
) -> list[Uploaded]:
    """Upload ``files`` with twine unless the index already holds them (see module doc).

    ``index_url`` is the index's simple API (default ``<repository_url>/simple``); the
    upload credentials are ``auth`` (user, password) when given, else read from the
    variables ``username_env`` and ``password_env``; they go to twine only. The index is
    read with ``read_auth`` when given (on its own origin), else anonymously.
    """
    if auth is not None:
        username, password = auth
    else:
        username = os.environ.get(username_env, "")
        password = os.environ.get(password_env, "")
    register_secret(password)
    credentials = http.Auth.basic(*read_auth) if read_auth and any(read_auth) else None
    index = index_url or repository_url.rstrip("/") + "/simple"
    results: list[Uploaded] = []
    pending: list[Path] = []
    listings: dict[str, dict[str, str]] = {}
    for path in files:
        local = file_sha256(path)
        project = dist_name(path.name)
        if project not in listings:
            listings[project] = index_files(index, project, credentials)
        url = listings[project].get(path.name)
        if url is None:
            pending.append(path)
            continue
        served = _get(url, _for(url, index, credentials))
        remote = hashlib.sha256(served.body if served else b"").hexdigest()
        if served is None or remote != local:
            raise ConflictError(
                f"{path.name} is already on {index} with different content (index sha256 "
                f"{remote}, local sha256 {local}). An index never replaces a file: bump the "
                "version (`invoke version.bump`) and build again."
            )
        results.append(Uploaded(path, "skipped", local))
    if pending:
        from releasekit.publish.attestations import attested

        twine = [sys.executable, "-m", "twine", "upload", "--non-interactive"]
        if attested(pending):
            twine.append("--attestations")  # PEP 740: each file's attestation beside it
        run(
            [*twine, "--disable-progress-bar", "--repository-url", repository_url, *pending],
            env={"TWINE_USERNAME": username, "TWINE_NON_INTERACTIVE": "1"},
            secrets={"TWINE_PASSWORD": password},
            hint=f"Check the upload URL {repository_url} and the upload credentials.",
        )
        results.extend(Uploaded(p, "uploaded", file_sha256(p)) for p in pending)
    order = {p: i for i, p in enumerate(files)}
    return sorted(results, key=lambda r: order[r.path])


def check_credentials(repository_url: str, username: str, password: str, where: str) -> None:
    """Ask the upload endpoint whether it accepts ``username``/``password``; uploads nothing.

    An empty upload form is posted: an index that rejects the credentials answers 401 or
    403, one that accepts them complains about the missing file (400). ``where`` names the
    variables the credentials came from, for the error.
    """
    boundary = "releasekit-preflight"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="protocol_version"\r\n\r\n1\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    try:
        answer = http.request(
            "POST",
            repository_url,
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            auth=http.Auth.basic(username, password),
            timeout=_TIMEOUT,
        )
    except HttpError as exc:
        raise PreflightError(
            f"The package index upload URL {http.public_url(repository_url)} does not answer "
            f"({exc.reason}). Check that it runs, or `pypi_url` of the target in release.toml."
        ) from None
    if answer.status in (401, 403):
        raise PreflightError(
            f"The package index at {http.public_url(repository_url)} refused the upload "
            f"credentials ({answer.status} {answer.reason}) from {where}. Set them to a user or "
            "token that may upload, then run again; nothing was published."
        )
