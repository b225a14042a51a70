from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from releasekit.core.errors import ConflictError, PublishError
from releasekit.publish.index import PEP691_JSON, _Links, dist_name, index_files, upload


@pytest.mark.parametrize(
    ("filename", "project"),
    [
        ("ironcage_cli-7.3.1-py3-none-any.whl", "ironcage-cli"),
        ("ironcage_cli-7.3.1.tar.gz", "ironcage-cli"),
        ("Foo.Bar-1.0rc1.tar.gz", "foo-bar"),
        ("ironcage_agent_runtime-1.4.2-py3-none-any.whl", "ironcage-agent-runtime"),
    ],
)
def test_dist_name(filename: str, project: str) -> None:
    assert dist_name(filename) == project


def test_dist_name_refuses_other_files() -> None:
    with pytest.raises(PublishError, match=r"neither a wheel"):
        dist_name("ironcage-7.3.1-linux-x86_64")


def test_simple_page_links() -> None:
    parser = _Links()
    parser.feed(
        '<html><body><a href="../../packages/a-1.0.tar.gz#sha256=ab">a-1.0.tar.gz</a>\n'
        '<a href="/packages/a-1.0-py3-none-any.whl">a-1.0-py3-none-any.whl</a></body></html>'
    )
    assert parser.links == {
        "a-1.0.tar.gz": "../../packages/a-1.0.tar.gz#sha256=ab",
        "a-1.0-py3-none-any.whl": "/packages/a-1.0-py3-none-any.whl",
    }


class _Index(BaseHTTPRequestHandler):
    """A PEP 691 index: JSON to a client that asks for it, the HTML page to one that does not."""

    files: dict[str, bytes] = {}

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/files/"):
            data = self.files[self.path.rsplit("/", 1)[1]]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if self.path != "/simple/demo-pkg/":
            self.send_error(404)
            return
        if PEP691_JSON in (self.headers["Accept"] or ""):
            kind = PEP691_JSON
            body = json.dumps(
                {
                    "meta": {"api-version": "1.1"},
                    "name": "demo-pkg",
                    "files": [
                        {
                            "filename": name,
                            "url": f"../../files/{name}",
                            "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                        }
                        for name, data in self.files.items()
                    ],
                }
            ).encode()
        else:
            kind = "text/html"
            body = "".join(f'<a href="/html/{n}">{n}</a>' for n in self.files).encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def json_index() -> Iterator[str]:
    _Index.files = {"demo_pkg-1.0-py3-none-any.whl": b"wheel bytes"}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_index_files_reads_pep_691_json(json_index: str) -> None:
    files = index_files(f"{json_index}/simple", "Demo.Pkg")
    assert files == {
        "demo_pkg-1.0-py3-none-any.whl": f"{json_index}/files/demo_pkg-1.0-py3-none-any.whl"
    }


def test_upload_skips_a_file_the_json_index_holds(json_index: str, tmp_path: Path) -> None:
    wheel = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    (done,) = upload([wheel], json_index, index_url=f"{json_index}/simple", auth=("u", "pw12"))
    assert done.status == "skipped"
    wheel.write_bytes(b"other bytes")
    with pytest.raises(ConflictError, match=r"already on .* with different content"):
        upload([wheel], json_index, index_url=f"{json_index}/simple", auth=("u", "pw12"))


def test_a_missing_project_has_no_files(json_index: str) -> None:
    assert index_files(f"{json_index}/simple", "absent") == {}
