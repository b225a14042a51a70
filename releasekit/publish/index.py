"""Idempotent uploads of Python distributions with twine.

Before uploading a file the index's simple page (``<index>/<project>/``) is asked for it. A
file already there with the same sha256 is skipped; one with different content is a
ConflictError naming both digests (an index never lets a file be replaced, and a release
must not silently ship two different files under one name). Credentials travel only in the
environment of the twine process, never on its command line.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

from releasekit.core.errors import ConflictError, PreflightError, PublishError
from releasekit.core.files import file_sha256
from releasekit.core.run import register_secret, run

__all__ = ["Uploaded", "check_credentials", "dist_name", "index_files", "upload"]

_TIMEOUT = 30


@dataclass(frozen=True)
class Uploaded:
    """What happened to one file: ``uploaded`` or ``skipped`` (identical file present)."""

    path: Path
    status: Literal["uploaded", "skipped"]
    sha256: str


def dist_name(filename: str) -> str:
    """The PEP 503 project name of a wheel or sdist file name."""
    if filename.endswith(".whl"):
        raw = filename.split("-")[0]
    elif filename.endswith((".tar.gz", ".zip")):
        raw = filename.rsplit("-", 1)[0]
    else:
        raise PublishError(
            f"{filename} is neither a wheel (.whl) nor an sdist (.tar.gz); only those are "
            "uploaded to a package index."
        )
    return "-".join(p for p in raw.replace("_", "-").replace(".", "-").lower().split("-") if p)


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


def _get(url: str, auth: tuple[str, str] | None) -> bytes | None:
    """GET ``url`` (``None`` on 404), retrying with basic auth when the index asks for it."""
    request = urllib.request.Request(url, headers={"Accept": "text/html"})
    for attempt in (None, auth):
        if attempt is not None:
            token = base64.b64encode(f"{attempt[0]}:{attempt[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code == 401 and attempt is None and auth is not None:
                continue
            raise PublishError(
                f"The package index answered {exc.code} {exc.reason} for {url}. Check the "
                "index URL (`pypi_index` of the target) and its credentials."
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise PublishError(
                f"Cannot reach the package index at {url}: {exc}. Is it running, and is "
                "`pypi_index` of the target right?"
            ) from None
    return None


def index_files(
    index_url: str, project: str, auth: tuple[str, str] | None = None
) -> dict[str, str]:
    """File name -> absolute download URL of ``project`` on the simple index ``index_url``."""
    page_url = f"{index_url.rstrip('/')}/{project}/"
    page = _get(page_url, auth)
    if page is None:
        return {}
    parser = _Links()
    parser.feed(page.decode("utf-8", errors="replace"))
    return {
        name: urllib.parse.urljoin(page_url, href.split("#", 1)[0])
        for name, href in parser.links.items()
    }


def upload(
    files: Sequence[Path],
    repository_url: str,
    username_env: str = "TWINE_USERNAME",
    password_env: str = "TWINE_PASSWORD",
    *,
    index_url: str | None = None,
    auth: tuple[str, str] | None = None,
) -> list[Uploaded]:
    """Upload ``files`` with twine unless the index already holds them (see module doc).

    ``index_url`` is the index's simple API (default ``<repository_url>/simple``); the
    credentials are ``auth`` (user, password) when given, else read from the variables
    ``username_env`` and ``password_env``.
    """
    if auth is not None:
        username, password = auth
    else:
        username = os.environ.get(username_env, "")
        password = os.environ.get(password_env, "")
    register_secret(password)
    auth = (username, password) if username or password else None
    index = index_url or repository_url.rstrip("/") + "/simple"
    results: list[Uploaded] = []
    pending: list[Path] = []
    listings: dict[str, dict[str, str]] = {}
    for path in files:
        local = file_sha256(path)
        project = dist_name(path.name)
        if project not in listings:
            listings[project] = index_files(index, project, auth)
        url = listings[project].get(path.name)
        if url is None:
            pending.append(path)
            continue
        remote_bytes = _get(url, auth)
        remote = hashlib.sha256(remote_bytes or b"").hexdigest()
        if remote_bytes is None or remote != local:
            raise ConflictError(
                f"{path.name} is already on {index} with different content (index sha256 "
                f"{remote}, local sha256 {local}). An index never replaces a file: bump the "
                "version (`invoke version.bump`) and build again."
            )
        results.append(Uploaded(path, "skipped", local))
    if pending:
        env = {"TWINE_USERNAME": username, "TWINE_PASSWORD": password, "TWINE_NON_INTERACTIVE": "1"}
        from releasekit.publish.attestations import attested

        twine = [sys.executable, "-m", "twine", "upload", "--non-interactive"]
        if attested(pending):
            twine.append("--attestations")  # PEP 740: each file's attestation beside it
        run(
            [*twine, "--disable-progress-bar", "--repository-url", repository_url, *pending],
            env=env,
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
    register_secret(password)
    boundary = "releasekit-preflight"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="protocol_version"\r\n\r\n1\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    request = urllib.request.Request(
        repository_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Basic {token}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise PreflightError(
                f"The package index at {repository_url} refused the upload credentials "
                f"({exc.code} {exc.reason}) from {where}. Set them to a user or token that may "
                "upload, then run again; nothing was published."
            ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise PreflightError(
            f"The package index upload URL {repository_url} does not answer ({exc}). Check "
            "that it runs, or `pypi_url` of the target in release.toml."
        ) from None
