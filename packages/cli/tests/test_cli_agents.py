from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ironcage_cli.__main__ import main
from ironcage_cli.api import ApiConfig, ConfigError

TOKEN = "test-token-5f1b2c"


class StubControlPanel(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.agents: list[dict[str, Any]] = [
            {
                "id": 1,
                "name": "scraper",
                "description": "Scrapes pages",
                "created_at": "2024-05-01T10:00:00Z",
            }
        ]
        self.requests: list[tuple[str, str, str | None]] = []
        self.fail_with: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _StubHandler(BaseHTTPRequestHandler):
    server: StubControlPanel

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        auth = self.headers.get("Authorization")
        self.server.requests.append((self.command, self.path, auth))
        if self.server.fail_with is not None:
            # A badly behaved server that echoes the credentials back.
            self._reply(self.server.fail_with, {"error": f"boom for {auth}"})
            return False
        if auth != f"Bearer {TOKEN}":
            self._reply(401, {"error": "invalid or missing token"})
            return False
        return True

    def do_GET(self) -> None:
        if self.path != "/api/agents":
            self._reply(404, {"error": "not found"})
        elif self._authorised():
            self._reply(200, {"agents": self.server.agents})

    def do_POST(self) -> None:
        if self.path != "/api/agents":
            self._reply(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        data = json.loads(self.rfile.read(length))
        if not self._authorised():
            return
        if not data.get("name"):
            self._reply(400, {"error": "name is required"})
            return
        if any(agent["name"] == data["name"] for agent in self.server.agents):
            self._reply(409, {"error": f"agent {data['name']!r} already exists"})
            return
        agent = {
            "id": len(self.server.agents) + 1,
            "name": data["name"],
            "description": data.get("description", ""),
            "created_at": "2024-05-02T12:00:00Z",
        }
        self.server.agents.append(agent)
        self._reply(201, agent)


@pytest.fixture()
def panel(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubControlPanel]:
    server = StubControlPanel()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    monkeypatch.setenv("IRONCAGE_API_URL", server.url + "/")
    monkeypatch.setenv("IRONCAGE_TOKEN", TOKEN)
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_list_table(panel: StubControlPanel, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "DESCRIPTION", "CREATED"]
    assert lines[1].split() == ["1", "scraper", "Scrapes", "pages", "2024-05-01T10:00:00Z"]
    assert panel.requests == [("GET", "/api/agents", f"Bearer {TOKEN}")]


def test_list_json(panel: StubControlPanel, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == panel.agents


def test_list_empty(panel: StubControlPanel, capsys: pytest.CaptureFixture[str]) -> None:
    panel.agents.clear()
    assert main(["agents", "list"]) == 0
    assert capsys.readouterr().out == "No agents.\n"


def test_create(panel: StubControlPanel, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "create", "writer", "--description", "Writes docs"]) == 0
    assert capsys.readouterr().out == "Created agent 2 (writer).\n"
    assert panel.agents[-1]["description"] == "Writes docs"
    assert main(["agents", "list", "--json"]) == 0
    names = [agent["name"] for agent in json.loads(capsys.readouterr().out)]
    assert names == ["scraper", "writer"]


def test_create_json(panel: StubControlPanel, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "create", "bot", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created == {
        "id": 2,
        "name": "bot",
        "description": "",
        "created_at": "2024-05-02T12:00:00Z",
    }


def test_create_conflict_shows_status_and_message(
    panel: StubControlPanel, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agents", "create", "scraper"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ironcage: error: POST /api/agents failed: HTTP 409")
    assert "already exists" in err
    assert len(err.splitlines()) == 1


def test_blank_name_is_usage_error(
    panel: StubControlPanel, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agents", "create", "  "]) == 2
    assert "NAME must not be empty" in capsys.readouterr().err
    assert panel.requests == []


def test_wrong_token_is_401(
    panel: StubControlPanel, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IRONCAGE_TOKEN", "wrong-secret-token")
    assert main(["agents", "list"]) == 1
    captured = capsys.readouterr()
    assert "HTTP 401" in captured.err
    assert "invalid or missing token" in captured.err
    assert "wrong-secret-token" not in captured.out + captured.err


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_never_print_token(
    panel: StubControlPanel, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    panel.fail_with = status
    assert main(["agents", "list"]) == 1
    captured = capsys.readouterr()
    assert f"HTTP {status}" in captured.err
    assert TOKEN not in captured.out + captured.err
    assert "***" in captured.err


def test_unreachable_api(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = StubControlPanel()
    url = server.url
    server.server_close()  # nothing listens on this port any more
    monkeypatch.setenv("IRONCAGE_API_URL", url)
    monkeypatch.setenv("IRONCAGE_TOKEN", TOKEN)
    assert main(["agents", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"ironcage: error: cannot reach the API at {url}")
    assert TOKEN not in err


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "IRONCAGE_API_URL"),
        ({"IRONCAGE_TOKEN": "t"}, "IRONCAGE_API_URL"),
        ({"IRONCAGE_API_URL": "http://127.0.0.1:8000"}, "IRONCAGE_TOKEN"),
        ({"IRONCAGE_API_URL": "http://127.0.0.1:8000", "IRONCAGE_TOKEN": " "}, "IRONCAGE_TOKEN"),
        ({"IRONCAGE_API_URL": "", "IRONCAGE_TOKEN": "t"}, "IRONCAGE_API_URL"),
    ],
)
@pytest.mark.parametrize("argv", [["agents", "list"], ["agents", "create", "x"]])
def test_missing_env(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    variable: str,
    argv: list[str],
) -> None:
    monkeypatch.delenv("IRONCAGE_API_URL", raising=False)
    monkeypatch.delenv("IRONCAGE_TOKEN", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ironcage: error: {variable} is not set")
    assert len(err.splitlines()) == 1


def test_bad_url_scheme() -> None:
    with pytest.raises(ConfigError, match="must be an http:// or https:// URL"):
        ApiConfig.from_env({"IRONCAGE_API_URL": "ftp://host", "IRONCAGE_TOKEN": "t"})


def test_config_repr_hides_token() -> None:
    config = ApiConfig.from_env({"IRONCAGE_API_URL": "http://h:1/", "IRONCAGE_TOKEN": "sekrit"})
    assert config.url == "http://h:1"
    assert "sekrit" not in repr(config)
