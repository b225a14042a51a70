from __future__ import annotations

import io
import json
import re
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ironcage_sandbox import Result

from ironcage_agent_runtime import AgentRuntimeServer, JsonLogger

TOKEN = "runtime-token-0123456789"
# The version this package's pyproject.toml declares (the release writes both places).
VERSION = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
    "version"
]


@pytest.fixture()
def log_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture()
def runtime(log_stream: io.StringIO) -> Iterator[AgentRuntimeServer]:
    server = AgentRuntimeServer(
        "127.0.0.1", 0, token=TOKEN, workers=2, logger=JsonLogger(log_stream)
    )
    server.start()
    try:
        yield server
    finally:
        server.close(grace_seconds=5)


def _request(
    base: str, method: str, path: str, body: bytes | None = None, token: str | None = TOKEN
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(base + path, data=body, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _json(
    base: str, method: str, path: str, payload: Any = None, token: str | None = TOKEN
) -> tuple[int, Any]:
    body = None if payload is None else json.dumps(payload).encode()
    status, _, raw = _request(base, method, path, body, token)
    return status, json.loads(raw)


def _wait_done(base: str, task_id: str, timeout: float = 8.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, task = _json(base, "GET", f"/tasks/{task_id}")
        assert status == 200
        if task["status"] not in ("queued", "running"):
            return dict(task)
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} did not finish")


def test_health(runtime: AgentRuntimeServer) -> None:
    status, body = _json(runtime.url, "GET", "/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["version"] == VERSION
    assert body["workers"] == 2


def test_task_runs_to_success(runtime: AgentRuntimeServer) -> None:
    status, headers, raw = _request(
        runtime.url,
        "POST",
        "/tasks",
        json.dumps({"steps": ["print(1)", "print('two')"], "budget_seconds": 10}).encode(),
    )
    created = json.loads(raw)
    assert status == 202
    assert created["status"] == "queued"
    assert re.fullmatch(r"[0-9a-f]{32}", created["id"])
    assert headers["Location"] == f"/tasks/{created['id']}"
    task = _wait_done(runtime.url, created["id"])
    assert task["status"] == "succeeded"
    assert [r["stdout"] for r in task["results"]] == ["1\n", "two\n"]
    assert all(r["ok"] and r["exit_code"] == 0 for r in task["results"])
    assert task["error"] is None
    assert task["budget_seconds"] == 10


def test_failing_step_fails_task(runtime: AgentRuntimeServer) -> None:
    _, created = _json(runtime.url, "POST", "/tasks", {"steps": ["1/0", "print('never')"]})
    task = _wait_done(runtime.url, created["id"])
    assert task["status"] == "failed"
    assert len(task["results"]) == 1
    assert "ZeroDivisionError" in task["results"][0]["stderr"]


def test_budget_exceeded(runtime: AgentRuntimeServer) -> None:
    payload = {
        "steps": ["print('fast')", "import time; time.sleep(30)", "print('never')"],
        "budget_seconds": 1,
        "step_timeout_seconds": 5,
    }
    _, created = _json(runtime.url, "POST", "/tasks", payload)
    started = time.monotonic()
    task = _wait_done(runtime.url, created["id"])
    assert time.monotonic() - started < 3
    assert task["status"] == "budget_exceeded"
    assert [r["stopped"] for r in task["results"]] == ["exited", "timeout"]
    assert task["results"][1]["timeout"] < 1


def test_task_listing(runtime: AgentRuntimeServer) -> None:
    _, created = _json(runtime.url, "POST", "/tasks", {"steps": ["pass"]})
    _wait_done(runtime.url, created["id"])
    status, body = _json(runtime.url, "GET", "/tasks")
    assert status == 200
    assert body["tasks"][0]["id"] == created["id"]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "steps is required"),
        (b'{"steps": []}', "non-empty list"),
        (b'{"steps": [42]}', "must be a non-empty string"),
        (b'{"steps": ["x"], "budget_seconds": -5}', "budget_seconds"),
        (b'{"steps": ["x"], "extra": 1}', "unknown field"),
    ],
)
def test_bad_input_is_400(runtime: AgentRuntimeServer, body: bytes, match: str) -> None:
    status, headers, raw = _request(runtime.url, "POST", "/tasks", body)
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert re.search(match, json.loads(raw)["error"])


def test_oversized_body_is_413(runtime: AgentRuntimeServer) -> None:
    body = json.dumps({"steps": ["x" * 60_000] * 20}).encode()
    status, _, raw = _request(runtime.url, "POST", "/tasks", body)
    assert status == 413
    assert "larger than" in json.loads(raw)["error"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nope", 404),
        ("GET", "/tasks/0123456789abcdef0123456789abcdef", 404),
        ("GET", "/tasks/not-an-id", 404),
        ("DELETE", "/tasks", 405),
        ("POST", "/health", 405),
    ],
)
def test_unknown_routes(runtime: AgentRuntimeServer, method: str, path: str, status: int) -> None:
    got, headers, raw = _request(runtime.url, method, path, b"{}" if method == "POST" else None)
    assert got == status
    assert "error" in json.loads(raw)
    if status == 405:
        assert "GET" in headers["Allow"]


_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$'
)


def test_metrics_text_format(runtime: AgentRuntimeServer) -> None:
    _, created = _json(runtime.url, "POST", "/tasks", {"steps": ["print(1)"]})
    _wait_done(runtime.url, created["id"])
    _request(runtime.url, "GET", "/nope")
    status, headers, raw = _request(runtime.url, "GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = raw.decode()
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* \S", line), line
        else:
            assert _SAMPLE.match(line), line
    assert 'ironcage_agent_runtime_tasks{status="succeeded"} 1' in text
    assert 'ironcage_agent_runtime_tasks{status="budget_exceeded"} 0' in text
    assert (
        'ironcage_agent_runtime_http_requests_total{method="POST",path="/tasks",status="202"} 1'
        in text
    )
    assert 'path="other",status="404"' in text
    assert 'path="/tasks/{id}"' in text
    assert 'ironcage_agent_runtime_steps_total{stopped="exited"} 1' in text
    assert "process_start_time_seconds " in text
    assert "# TYPE ironcage_agent_runtime_http_requests_total counter" in text


def test_logs_are_json_lines(runtime: AgentRuntimeServer, log_stream: io.StringIO) -> None:
    _json(runtime.url, "GET", "/health")
    deadline = time.monotonic() + 5
    requests: list[dict[str, Any]] = []
    while not requests and time.monotonic() < deadline:  # logged just after the response
        records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
        requests = [r for r in records if r["msg"] == "request"]
        time.sleep(0.01)
    request = requests[-1]
    assert request["method"] == "GET"
    assert request["path"] == "/health"
    assert request["status"] == 200
    assert request["level"] == "info"
    assert isinstance(request["duration_ms"], float)
    assert request["ts"].endswith("Z")


def test_full_queue_gives_503() -> None:
    release = threading.Event()

    def slow(code: str, **kwargs: Any) -> Result:
        release.wait(5)
        return Result(0, "", "", 0.0, "exited")

    server = AgentRuntimeServer(
        "127.0.0.1",
        0,
        token=TOKEN,
        workers=1,
        max_queue=1,
        runner=slow,
        logger=JsonLogger(io.StringIO()),
    )
    server.start()
    try:
        payload = {"steps": ["pass"]}
        first = _json(server.url, "POST", "/tasks", payload)[1]["id"]
        deadline = time.monotonic() + 5
        while server.pool.busy == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _json(server.url, "POST", "/tasks", payload)[0] == 202
        status, body = _json(server.url, "POST", "/tasks", payload)
        assert status == 503
        assert "queue is full" in body["error"]
        release.set()
        assert _wait_done(server.url, first)["status"] == "succeeded"
    finally:
        release.set()
        server.close(grace_seconds=5)


def test_close_cancels_queued_tasks() -> None:
    release = threading.Event()

    def slow(code: str, **kwargs: Any) -> Result:
        release.wait(5)
        return Result(0, "", "", 0.0, "exited")

    server = AgentRuntimeServer(
        "127.0.0.1", 0, token=TOKEN, workers=1, runner=slow, logger=JsonLogger(io.StringIO())
    )
    server.start()
    running = _json(server.url, "POST", "/tasks", {"steps": ["pass"]})[1]["id"]
    while server.pool.busy == 0:
        time.sleep(0.01)
    queued = _json(server.url, "POST", "/tasks", {"steps": ["pass"]})[1]["id"]
    threading.Timer(0.2, release.set).start()
    server.close(grace_seconds=5)
    running_task = server.store.get(running)
    queued_task = server.store.get(queued)
    assert running_task is not None and running_task.status == "succeeded"
    assert queued_task is not None and queued_task.status == "failed"
    assert queued_task.error is not None and "shutting down" in queued_task.error
