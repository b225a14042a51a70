"""Upload credentials reach the upload URL only; the index is read anonymously or as its reader.

The layout of a real index: uploads go to one origin (the real pypiserver here, through
twine), the simple pages come from another (a small HTTP server), and the page links the
files on a third (a second small server, as PyPI links files.pythonhosted.org). Each small
server records every Authorization header it is sent.
"""

from __future__ import annotations

import base64
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from releasekit.deploy import testbed
from releasekit.publish import index

pytestmark = pytest.mark.integration

UPLOAD = ("ci", "pypi-test-password")
READER = ("reader", "read-marker-7c2f")
PRESENT = "cred_probe-1.0-py3-none-any.whl"


@dataclass
class _Server:
    url: str
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(method, path, Authorization header) of every request."""


def _serve(routes: dict[str, tuple[str, bytes]]) -> tuple[ThreadingHTTPServer, _Server]:
    record = _Server("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            record.seen.append(("GET", self.path, self.headers.get("Authorization")))
            kind, body = routes.get(self.path, ("", b""))
            if not kind:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, record


def _wheel(path: Path, version: str) -> Path:
    """A minimal valid wheel twine accepts (METADATA, WHEEL, RECORD)."""
    info = f"cred_probe-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("cred_probe/__init__.py", "")
        whl.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: cred-probe\nVersion: {version}\nSummary: probe\n",
        )
        whl.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        whl.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[_Server, _Server, bytes]]:
    """(the index pages' server, the files' server, the bytes of the present wheel)."""
    (tmp_path / "served").mkdir()
    data = _wheel(tmp_path / "served" / PRESENT, "1.0").read_bytes()
    files, files_record = _serve({f"/files/{PRESENT}": ("application/octet-stream", data)})
    page = f'<html><body><a href="{files_record.url}/files/{PRESENT}">{PRESENT}</a></body></html>'
    pages, pages_record = _serve({"/simple/cred-probe/": ("text/html", page.encode())})
    yield pages_record, files_record, data
    for server in (files, pages):
        server.shutdown()
        server.server_close()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("read_auth", "version"), [(None, "1.1"), (READER, "1.2")])
def test_upload_credentials_go_to_the_upload_url_only(
    pypi: testbed.Service,
    mirror: tuple[_Server, _Server, bytes],
    tmp_path: Path,
    read_auth: tuple[str, str] | None,
    version: str,
) -> None:
    pages, files, data = mirror
    (tmp_path / "out").mkdir()
    present = tmp_path / "out" / PRESENT
    present.write_bytes(data)
    new = _wheel(tmp_path / "out" / f"cred_probe-{version}-py3-none-any.whl", version)

    results = index.upload(
        [present, new], pypi.url, index_url=f"{pages.url}/simple", auth=UPLOAD, read_auth=read_auth
    )

    assert [(r.path, r.status) for r in results] == [(present, "skipped"), (new, "uploaded")]
    assert (Path(pypi.data) / "packages" / new.name).read_bytes() == new.read_bytes()
    assert files.seen == [("GET", f"/files/{PRESENT}", None)]  # the linked server: no credential
    reader = _basic(*read_auth) if read_auth else None
    assert {auth for _, _, auth in pages.seen} == {reader}
    assert all(UPLOAD[1] not in str(seen) for seen in [*pages.seen, *files.seen])


def test_index_files_sends_read_credentials_to_the_index_origin_only(
    mirror: tuple[_Server, _Server, bytes],
) -> None:
    pages, files, _ = mirror
    found = index.index_files(f"{pages.url}/simple", "cred-probe", READER)
    assert found == {PRESENT: f"{files.url}/files/{PRESENT}"}
    assert pages.seen == [("GET", "/simple/cred-probe/", _basic(*READER))]
    assert files.seen == []
