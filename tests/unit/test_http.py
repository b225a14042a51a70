"""The HTTP client against real servers on 127.0.0.1: retries, timeouts, auth, redirects."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from releasekit.core import http
from releasekit.core.errors import HttpError
from releasekit.core.net import free_port

PASSWORD = "s3cret-pass-for-tests"


class _Handler(BaseHTTPRequestHandler):
    """Answers by path; ``failures`` counts down the 503s /flaky gives before it answers."""

    failures = 0
    seen: list[tuple[str, str, str | None]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        type(self).seen.append((self.command, self.path, self.headers.get("Authorization")))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/flaky":
            if type(self).failures > 0:
                type(self).failures -= 1
                self._reply(503, b"busy", {"Retry-After": "0"})
            else:
                self._reply(200, b"finally")
        elif self.path == "/hang":
            time.sleep(2)
            self._reply(200, b"late")
        elif self.path == "/private":
            expected = "Basic " + base64.b64encode(f"ci:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") == expected:
                self._reply(200, b"welcome")
            else:
                self._reply(401, b"who are you?", {"WWW-Authenticate": 'Basic realm="x"'})
        elif self.path == "/echo":
            self._reply(200, json.dumps({"body": body.decode()}).encode())
        elif self.path == "/moved":
            self._reply(302, headers={"Location": "/private"})
        elif self.path.startswith("/away"):
            other = self.path.split("=", 1)[1]
            self._reply(302, headers={"Location": f"http://{other}/private"})
        else:
            self._reply(404, b"no such thing")

    do_GET = do_POST = do_HEAD = _handle


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.failures, _Handler.seen = 0, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True  # the /hang handler must not hold the teardown
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_get_retries_5xx_until_the_server_answers(server: str) -> None:
    _Handler.failures = 2
    answer = http.get(f"{server}/flaky", retries=3, backoff=0.01)
    assert (answer.status, answer.body) == (200, b"finally")
    assert [path for _, path, _ in _Handler.seen] == ["/flaky"] * 3


def test_get_gives_the_last_5xx_when_retries_run_out(server: str) -> None:
    _Handler.failures = 5
    answer = http.get(f"{server}/flaky", retries=1, backoff=0.01)
    assert answer.status == 503
    with pytest.raises(HttpError, match=r"GET http://127\.0\.0\.1:\d+/flaky answered 503") as exc:
        answer.raise_for_status("Is the service up?")
    assert exc.value.status == 503
    assert str(exc.value).endswith("Is the service up?")


def test_a_post_is_never_retried(server: str) -> None:
    _Handler.failures = 1
    answer = http.request("POST", f"{server}/flaky", data=b"upload", retries=3, backoff=0.01)
    assert answer.status == 503
    assert len(_Handler.seen) == 1


def test_a_hanging_server_times_out(server: str) -> None:
    with pytest.raises(HttpError, match=r"got no answer: no answer within 0\.5 s") as exc:
        http.get(f"{server}/hang", timeout=0.5, retries=0)
    assert exc.value.status is None  # the server answers only after 2 s


def test_nothing_listening_is_retried_then_named() -> None:
    url = f"http://127.0.0.1:{free_port()}/simple/"
    with pytest.raises(HttpError, match=r"got no answer: .*refused.*, tried 3 times\."):
        http.get(url, retries=2, backoff=0.01)


def test_401_is_a_clear_error_without_the_credentials(server: str) -> None:
    url = server.replace("http://", f"http://ci:{PASSWORD}@") + "/private"
    answer = http.get(f"{server}/private", auth=http.Auth.basic("ci", "wrong-password"))
    assert answer.status == 401
    with pytest.raises(HttpError, match=r"GET http://127\.0\.0\.1:\d+/private answered 401") as exc:
        http.get(
            f"{server}/private", auth=http.Auth.basic("ci", "wrong-password")
        ).raise_for_status()
    assert "wrong-password" not in str(exc.value)
    assert PASSWORD not in http.public_url(url)
    assert http.public_url(url) == f"{server}/private"


def test_basic_and_bearer_auth(server: str) -> None:
    assert http.get(f"{server}/private", auth=http.Auth.basic("ci", PASSWORD)).body == b"welcome"
    http.get(f"{server}/echo", auth=http.Auth.bearer("token-for-tests"))
    assert _Handler.seen[-1][2] == "Bearer token-for-tests"
    assert "token-for-tests" not in repr(http.Auth.bearer("token-for-tests"))


def test_credentials_follow_a_redirect_to_the_same_origin_only(server: str) -> None:
    auth = http.Auth.basic("ci", PASSWORD)
    assert http.get(f"{server}/moved", auth=auth).body == b"welcome"
    other = f"localhost:{server.rsplit(':', 1)[1]}"
    assert http.get(f"{server}/away={other}", auth=auth).status == 401
    assert _Handler.seen[-1][2] is None


def test_json_body_and_answer(server: str) -> None:
    answer = http.request("POST", f"{server}/echo", json_body={"a": 1})
    assert answer.json() == {"body": '{"a": 1}'}
    with pytest.raises(HttpError, match="not JSON"):
        http.get(f"{server}/flaky").json()


def test_sink_receives_the_body(server: str) -> None:
    chunks: list[bytes] = []
    answer = http.get(f"{server}/flaky", sink=chunks.append)
    assert (answer.body, b"".join(chunks)) == (b"", b"finally")


def test_a_reset_connection_is_retried() -> None:
    """A server that closes the first connection without answering, then answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def serve() -> None:
            first, _ = listener.accept()
            first.close()
            second, _ = listener.accept()
            second.recv(65536)
            second.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            second.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        answer = http.get(f"http://127.0.0.1:{port}/", retries=2, backoff=0.01)
        thread.join(5)
    assert answer.body == b"ok"
