from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ironcage_control_panel import AgentStore, __version__, create_server
from ironcage_control_panel.server import JsonLogger, main

TOKEN = "test-token-0123456789"


@dataclass
class Running:
    base: str
    db: Path
    logs: io.StringIO


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    db = tmp_path / "cp.db"
    logs = io.StringIO()
    srv = create_server("127.0.0.1", 0, db_path=db, token=TOKEN, logger=JsonLogger(logs))
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Running(f"http://127.0.0.1:{srv.port}", db, logs)
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def request(
    running: Running,
    method: str,
    path: str,
    body: object = None,
    token: str | None = TOKEN,
    raw: bytes | None = None,
) -> Response:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(running.base + path, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return Response(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, dict(exc.headers), exc.read())


@pytest.mark.parametrize("prefix", ["/api", ""])
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/agents"), ("POST", "/agents"), ("GET", "/agents/1"), ("DELETE", "/agents/1")],
)
@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_agent_routes_require_a_valid_token(
    server: Running, prefix: str, method: str, path: str, token: str | None
) -> None:
    body = {"name": "x"} if method == "POST" else None
    resp = request(server, method, prefix + path, body=body, token=token)
    assert resp.status == 401
    assert resp.json() == {"error": "missing or invalid bearer token"}
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_is_never_logged(server: Running) -> None:
    request(server, "GET", "/api/agents")
    request(server, "GET", "/api/agents", token="not-the-token")
    assert TOKEN not in server.logs.getvalue()
    assert "not-the-token" not in server.logs.getvalue()


@pytest.mark.parametrize("prefix", ["/api", ""])
def test_crud(server: Running, prefix: str) -> None:
    assert request(server, "GET", f"{prefix}/agents").json() == {"agents": [], "next": None}

    created = request(
        server, "POST", f"{prefix}/agents", {"name": "web-crawler", "description": "crawls"}
    )
    assert created.status == 201
    agent = created.json()
    assert agent["name"] == "web-crawler"
    assert agent["description"] == "crawls"
    assert isinstance(agent["id"], int)
    assert agent["created_at"].endswith("Z")
    assert created.headers["Location"] == f"/api/agents/{agent['id']}"

    listed = request(server, "GET", f"{prefix}/agents").json()["agents"]
    assert [a["name"] for a in listed] == ["web-crawler"]
    assert set(listed[0]) >= {"id", "name", "description", "created_at"}

    got = request(server, "GET", f"{prefix}/agents/{agent['id']}")
    assert got.status == 200
    assert got.json() == agent

    patched = request(server, "PATCH", f"{prefix}/agents/{agent['id']}", {"description": "new"})
    assert patched.status == 200
    assert patched.json()["description"] == "new"
    assert patched.json()["name"] == "web-crawler"
    assert request(server, "GET", f"{prefix}/agents/{agent['id']}").json()["description"] == "new"

    deleted = request(server, "DELETE", f"{prefix}/agents/{agent['id']}")
    assert deleted.status == 204
    assert deleted.body == b""
    assert request(server, "GET", f"{prefix}/agents/{agent['id']}").status == 404
    assert request(server, "DELETE", f"{prefix}/agents/{agent['id']}").status == 404
    assert request(server, "GET", f"{prefix}/agents").json() == {"agents": [], "next": None}


def test_description_defaults_to_empty(server: Running) -> None:
    resp = request(server, "POST", "/api/agents", {"name": "a"})
    assert resp.status == 201
    assert resp.json()["description"] == ""


def test_duplicate_name_conflicts(server: Running) -> None:
    assert request(server, "POST", "/api/agents", {"name": "dup"}).status == 201
    resp = request(server, "POST", "/api/agents", {"name": "dup", "description": "again"})
    assert resp.status == 409
    assert "already exists" in resp.json()["error"]
    assert len(request(server, "GET", "/api/agents").json()["agents"]) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "name is required"),
        ({"name": ""}, "name must be"),
        ({"name": "Upper"}, "name must be"),
        ({"name": "has space"}, "name must be"),
        ({"name": "under_score"}, "name must be"),
        ({"name": "a" * 65}, "name must be"),
        ({"name": 42}, "name must be"),
        ({"name": "ok", "description": 5}, "description must be a string"),
        ({"name": "ok", "description": "x" * 1025}, "at most 1024"),
        ({"name": "ok", "extra": 1}, "unknown field"),
        (["name", "ok"], "JSON object"),
    ],
)
def test_invalid_create_is_400(server: Running, body: object, message: str) -> None:
    resp = request(server, "POST", "/api/agents", body)
    assert resp.status == 400
    assert message in resp.json()["error"]


@pytest.mark.parametrize("raw", [b"", b"{not json", b"\xff\xfe"])
def test_malformed_body_is_400(server: Running, raw: bytes) -> None:
    resp = request(server, "POST", "/api/agents", raw=raw)
    assert resp.status == 400
    assert resp.json() == {"error": "request body must be a JSON object"}


def test_name_limits_accepted(server: Running) -> None:
    for name in ["a", "0", "-", "a" * 64, "agent-01"]:
        assert request(server, "POST", "/api/agents", {"name": name}).status == 201


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"description": "fine"}, 200),
        ({}, 400),
        ({"name": "renamed"}, 400),
        ({"description": None}, 400),
    ],
)
def test_patch_validation(server: Running, body: object, status: int) -> None:
    agent = request(server, "POST", "/api/agents", {"name": "p"}).json()
    assert request(server, "PATCH", f"/api/agents/{agent['id']}", body).status == status


def test_patch_missing_agent_is_404(server: Running) -> None:
    assert request(server, "PATCH", "/api/agents/999", {"description": "x"}).status == 404


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/nope", 404),
        ("GET", "/api/agents/abc", 404),
        ("PUT", "/api/agents", 405),
        ("POST", "/api/agents/1", 405),
        ("POST", "/health", 405),
    ],
)
def test_unknown_routes_and_methods(server: Running, method: str, path: str, status: int) -> None:
    resp = request(server, method, path, body={} if method in ("PUT", "POST") else None)
    assert resp.status == status
    assert "error" in resp.json()


@pytest.mark.parametrize("path", ["/health", "/api/health"])
def test_health(server: Running, path: str) -> None:
    resp = request(server, "GET", path, token=None)
    assert resp.status == 200
    assert resp.json() == {"status": "ok", "version": __version__, "database": "ok"}
    assert resp.headers["Content-Type"].startswith("application/json")


def test_health_reports_database_failure(server: Running) -> None:
    # Replace the database file with a directory: SELECT 1 can no longer run.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{server.db}{suffix}").unlink(missing_ok=True)
    server.db.mkdir()
    resp = request(server, "GET", "/health", token=None)
    assert resp.status == 503
    assert resp.json() == {"status": "error", "version": __version__, "database": "error"}


@pytest.mark.parametrize("path", ["/metrics", "/api/metrics"])
def test_metrics(server: Running, path: str) -> None:
    request(server, "POST", "/api/agents", {"name": "m1"})
    request(server, "POST", "/api/agents", {"name": "m2"})
    request(server, "GET", "/api/agents", token=None)
    resp = request(server, "GET", path, token=None)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = resp.body.decode()
    assert "# TYPE ironcage_control_panel_requests_total counter" in text
    assert (
        'ironcage_control_panel_requests_total{method="POST",route="/agents",status="201"} 2'
        in text
    )
    assert (
        'ironcage_control_panel_requests_total{method="GET",route="/agents",status="401"} 1' in text
    )
    assert "# TYPE ironcage_control_panel_agents_total gauge" in text
    assert "\nironcage_control_panel_agents_total 2\n" in text
    assert "\nprocess_start_time_seconds " in text
    assert f'ironcage_control_panel_build_info{{version="{__version__}"}} 1' in text


def test_logs_are_json_lines(server: Running) -> None:
    request(server, "GET", "/health", token=None)
    lines = [json.loads(line) for line in server.logs.getvalue().splitlines()]
    assert lines, "expected log lines"
    for record in lines:
        assert {"ts", "level", "msg"} <= set(record)
    req = [r for r in lines if r["msg"] == "request"]
    assert req[-1]["method"] == "GET"
    assert req[-1]["path"] == "/health"
    assert req[-1]["status"] == 200
    assert isinstance(req[-1]["duration_ms"], float)


def test_concurrent_creates(server: Running) -> None:
    statuses: list[int] = []

    def create(i: int) -> None:
        statuses.append(request(server, "POST", "/api/agents", {"name": f"c-{i}"}).status)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert statuses == [201] * 20
    assert len(request(server, "GET", "/api/agents").json()["agents"]) == 20


def test_database_is_in_wal_mode(server: Running) -> None:
    conn = sqlite3.connect(server.db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "cp.db"
    logs = io.StringIO()
    first = create_server("127.0.0.1", 0, db_path=db, token=TOKEN, logger=JsonLogger(logs))
    first.server_close()
    store = AgentStore(db)
    versions = store.schema_versions()
    assert versions == sorted(versions)
    assert versions[0] == 1
    store.create_agent("keeper", "kept across restarts")

    second = create_server("127.0.0.1", 0, db_path=db, token=TOKEN, logger=JsonLogger(logs))
    second.server_close()
    assert store.schema_versions() == versions
    assert store.migrate() == []
    assert [a.name for a in store.list_agents()] == ["keeper"]
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == versions[-1]
        rows = conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
        assert rows == len(versions)
    finally:
        conn.close()


@pytest.mark.parametrize("token", ["", "   "])
def test_create_server_refuses_empty_token(tmp_path: Path, token: str) -> None:
    with pytest.raises(ValueError, match="CONTROL_PANEL_TOKEN must be set"):
        create_server("127.0.0.1", 0, db_path=tmp_path / "x.db", token=token)


@pytest.mark.parametrize("token", [None, ""])
def test_main_refuses_to_start_without_token(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token: str | None,
) -> None:
    if token is None:
        monkeypatch.delenv("CONTROL_PANEL_TOKEN", raising=False)
    else:
        monkeypatch.setenv("CONTROL_PANEL_TOKEN", token)
    db = tmp_path / "never.db"
    assert main(["--host", "127.0.0.1", "--port", "0", "--db", str(db)]) == 2
    captured = capsys.readouterr()
    assert "CONTROL_PANEL_TOKEN is not set" in captured.err
    assert "refusing to start" in captured.err
    record = json.loads(captured.out.strip().splitlines()[-1])
    assert record["level"] == "error"
    assert not db.exists()


def test_cli_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "CONTROL_PANEL_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    env.pop("PORT", None)
    db = tmp_path / "cli.db"
    cmd = [sys.executable, "-m", "ironcage_control_panel", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(
        [*cmd, "--db", str(db)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = None
        for line in proc.stdout:
            record = json.loads(line)
            if record["msg"] == "listening":
                port = record["port"]
                break
        assert port, "server did not report its port"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            assert json.loads(resp.read())["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    messages = [json.loads(line)["msg"] for line in out.splitlines()]
    assert messages[-2:] == ["shutting down", "stopped"]
    assert TOKEN not in out + err


def test_agents_are_listed_in_pages(server: Running) -> None:
    for i in range(5):
        assert request(server, "POST", "/api/agents", {"name": f"p-{i}"}).status == 201
    names: list[str] = []
    path = "/api/agents?limit=2"
    while True:
        body = request(server, "GET", path).json()
        names += [agent["name"] for agent in body["agents"]]
        if body["next"] is None:
            break
        path = f"/api/agents?limit=2&after={body['next']}"
    assert names == [f"p-{i}" for i in range(5)]


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "after=y"])
def test_bad_page_queries_are_400(server: Running, query: str) -> None:
    response = request(server, "GET", f"/api/agents?{query}")
    assert response.status == 400
    assert "limit" in response.json()["error"]


def test_two_hundred_concurrent_reads(server: Running) -> None:
    barrier = threading.Barrier(200)
    statuses: list[int] = []

    def read() -> None:
        barrier.wait(10)
        statuses.append(request(server, "GET", "/api/agents?limit=1").status)

    threads = [threading.Thread(target=read) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 200
