"""The runtime's own defences: the token, confined snippets, and servers that hold load."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from ironcage_agent_runtime import AgentRuntimeServer, JsonLogger

TOKEN = "runtime-token-0123456789"


@pytest.fixture()
def runtime() -> Iterator[AgentRuntimeServer]:
    server = AgentRuntimeServer(
        "127.0.0.1", 0, token=TOKEN, workers=2, logger=JsonLogger(io.StringIO())
    )
    server.start()
    try:
        yield server
    finally:
        server.close(grace_seconds=5)


def _call(
    base: str, method: str, path: str, payload: Any = None, token: str | None = TOKEN
) -> tuple[int, dict[str, str], Any]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"0")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), json.loads(exc.read() or b"0")


def _run_task(base: str, steps: list[str], timeout: float = 20.0) -> dict[str, Any]:
    status, _, created = _call(base, "POST", "/tasks", {"steps": steps})
    assert status == 202, created
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, _, task = _call(base, "GET", f"/tasks/{created['id']}")
        if task["status"] not in ("queued", "running"):
            return dict(task)
        time.sleep(0.05)
    raise AssertionError("task did not finish")


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/tasks"), ("GET", "/tasks"), ("GET", "/tasks/0123456789abcdef0123456789abcdef")],
)
def test_tasks_need_the_token(
    runtime: AgentRuntimeServer, method: str, path: str, token: str | None
) -> None:
    payload = {"steps": ["print(1)"]} if method == "POST" else None
    status, headers, body = _call(runtime.url, method, path, payload, token=token)
    assert status == 401
    assert body == {"error": "missing or invalid bearer token"}
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert len(runtime.store) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/health", "/metrics"])
def test_health_and_metrics_stay_open(runtime: AgentRuntimeServer, path: str) -> None:
    with urllib.request.urlopen(runtime.url + path, timeout=5) as response:
        assert response.status == 200


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="AGENT_RUNTIME_TOKEN"):
        AgentRuntimeServer("127.0.0.1", 0, token=" ")


HOSTILE = {
    "signal-the-server": ("import os; os.kill(os.getppid(), 9)", "PermissionError"),
    "kill-everyone": ("import os; os.kill(-1, 9)", "PermissionError"),
    "socket-to-localhost": (
        "import socket; socket.create_connection(('127.0.0.1', PORT), timeout=2)",
        "PermissionError",
    ),
    "read-server-environment": (
        "import os; print(open('/proc/%d/environ' % os.getppid()).read())",
        "PermissionError",
    ),
    "fork-1000": (
        "import os, time\nfor _ in range(1000):\n    if os.fork() == 0:\n        time.sleep(5)",
        "BlockingIOError",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_snippet_fails_inside_and_the_runtime_carries_on(
    runtime: AgentRuntimeServer, name: str
) -> None:
    code, error = HOSTILE[name]
    port = runtime.address[1]
    task = _run_task(runtime.url, [code.replace("PORT", str(port))])
    assert task["status"] == "failed"
    assert error in task["results"][0]["stderr"]
    with urllib.request.urlopen(runtime.url + "/health", timeout=5) as response:
        assert json.loads(response.read())["status"] == "ok"
    assert _run_task(runtime.url, ["print('still here')"])["results"][0]["stdout"] == (
        "still here\n"
    )


def test_two_hundred_concurrent_clients_all_get_answers(runtime: AgentRuntimeServer) -> None:
    barrier = threading.Barrier(200)
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        barrier.wait(10)
        status, _, _ = _call(runtime.url, "GET", "/tasks?limit=1")
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 200


def test_connections_over_the_cap_get_503_at_once() -> None:
    server = AgentRuntimeServer(
        "127.0.0.1", 0, token=TOKEN, max_connections=2, logger=JsonLogger(io.StringIO())
    )
    server.start()
    idle = [socket.create_connection(server.address, timeout=5) for _ in range(2)]
    try:
        time.sleep(0.2)  # both taken by handler threads, which wait for a request line
        with socket.create_connection(server.address, timeout=5) as third:
            third.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            reply = third.recv(4096)
        assert reply.startswith(b"HTTP/1.1 503")
    finally:
        for sock in idle:
            sock.close()
        server.close(grace_seconds=2)


def test_a_slow_client_is_cut_off() -> None:
    server = AgentRuntimeServer(
        "127.0.0.1", 0, token=TOKEN, read_timeout=0.5, logger=JsonLogger(io.StringIO())
    )
    server.start()
    try:
        with socket.create_connection(server.address, timeout=5) as slow:
            slow.sendall(b"POST /tasks HTTP/1.1\r\nContent-Length: 100\r\n")
            started = time.monotonic()
            with urllib.request.urlopen(server.url + "/health", timeout=5) as response:
                assert response.status == 200
            assert slow.recv(4096) == b""  # closed by the server, well before 5 s
            assert time.monotonic() - started < 3
    finally:
        server.close(grace_seconds=2)


def test_tasks_are_listed_in_pages(runtime: AgentRuntimeServer) -> None:
    created = [_call(runtime.url, "POST", "/tasks", {"steps": ["pass"]})[2]["id"] for _ in range(5)]
    seen: list[str] = []
    path = "/tasks?limit=2"
    pages = 0
    while True:
        status, _, body = _call(runtime.url, "GET", path)
        assert status == 200
        assert len(body["tasks"]) <= 2
        seen += [task["id"] for task in body["tasks"]]
        pages += 1
        if body["next"] is None:
            break
        path = f"/tasks?limit=2&cursor={body['next']}"
    assert seen == created[::-1]
    assert pages == 3


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "cursor=abc"])
def test_bad_page_queries_are_400(runtime: AgentRuntimeServer, query: str) -> None:
    status, _, body = _call(runtime.url, "GET", f"/tasks?{query}")
    assert status == 400
    assert "limit" in body["error"]
