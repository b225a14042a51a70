"""HTTP API for the control panel (stdlib ``http.server``), JSON logs and Prometheus metrics."""

from __future__ import annotations

import argparse
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from ironcage_control_panel import __version__
from ironcage_control_panel.store import AgentExistsError, AgentStore, ValidationError

TOKEN_ENV = "CONTROL_PANEL_TOKEN"
DB_ENV = "CONTROL_PANEL_DB"
DEFAULT_DB = "./control-panel.db"
DEFAULT_PORT = 8000
MAX_BODY_BYTES = 64 * 1024
DEFAULT_PAGE = 100
MAX_PAGE = 500
MAX_CONNECTIONS = 256
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 39\r\n\r\n"
    b'{"error":"too many connections, retry"}'
)
_METRIC_PREFIX = "ironcage_control_panel"
_KNOWN_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"})
_AGENT_PATH = re.compile(r"/agents/(\d{1,18})")


# -- logging ----------------------------------------------------------------------------------


class JsonLogger:
    """Writes one JSON object per line: ``ts``, ``level``, ``msg`` plus extra fields."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        # Re-entrant: the SIGTERM handler logs on the main thread, which may hold the lock.
        self._lock = threading.RLock()

    def log(self, level: str, msg: str, **fields: Any) -> None:
        record: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "msg": msg,
            "service": "ironcage-control-panel",
        }
        record.update(fields)
        line = json.dumps(record, default=str, separators=(",", ":"))
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()

    def info(self, msg: str, **fields: Any) -> None:
        self.log("info", msg, **fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self.log("warning", msg, **fields)

    def error(self, msg: str, **fields: Any) -> None:
        self.log("error", msg, **fields)


# -- metrics ----------------------------------------------------------------------------------


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """In-process request counters rendered in the Prometheus text exposition format."""

    def __init__(self) -> None:
        self.start_time = time.time()
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = {}
        self._duration_sum: dict[str, float] = {}
        self._duration_count: dict[str, int] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in _KNOWN_METHODS else "OTHER"
        with self._lock:
            key = (method, route, status)
            self._requests[key] = self._requests.get(key, 0) + 1
            self._duration_sum[route] = self._duration_sum.get(route, 0.0) + seconds
            self._duration_count[route] = self._duration_count.get(route, 0) + 1

    def render(self, agents_total: int | None) -> str:
        p = _METRIC_PREFIX
        lines = [
            f"# HELP {p}_requests_total HTTP requests handled, by method, route and status.",
            f"# TYPE {p}_requests_total counter",
        ]
        with self._lock:
            requests = sorted(self._requests.items())
            sums = sorted(self._duration_sum.items())
            counts = dict(self._duration_count)
        for (method, route, status), count in requests:
            labels = (
                f'method="{_escape_label(method)}",route="{_escape_label(route)}",status="{status}"'
            )
            lines.append(f"{p}_requests_total{{{labels}}} {count}")
        lines += [
            f"# HELP {p}_request_duration_seconds Time spent handling HTTP requests, by route.",
            f"# TYPE {p}_request_duration_seconds summary",
        ]
        for route, total in sums:
            label = f'route="{_escape_label(route)}"'
            lines.append(f"{p}_request_duration_seconds_sum{{{label}}} {total:.6f}")
            lines.append(f"{p}_request_duration_seconds_count{{{label}}} {counts[route]}")
        if agents_total is not None:
            lines += [
                f"# HELP {p}_agents_total Number of agents in the database.",
                f"# TYPE {p}_agents_total gauge",
                f"{p}_agents_total {agents_total}",
            ]
        lines += [
            f"# HELP {p}_build_info Build information.",
            f"# TYPE {p}_build_info gauge",
            f'{p}_build_info{{version="{_escape_label(__version__)}"}} 1',
            "# HELP process_start_time_seconds Start time of the process (unix epoch seconds).",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {self.start_time:.3f}",
        ]
        return "\n".join(lines) + "\n"


# -- HTTP -------------------------------------------------------------------------------------


class _HTTPError(Exception):
    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _route_of(path: str) -> tuple[str, int | None]:
    """Map a request path (with or without the ``/api`` prefix) to (route label, agent id)."""
    if path == "/api" or path.startswith("/api/"):
        path = path[4:] or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    if path in ("/health", "/metrics", "/agents"):
        return path, None
    match = _AGENT_PATH.fullmatch(path)
    if match:
        return "/agents/{id}", int(match.group(1))
    return "unmatched", None


_ALLOWED = {
    "/health": ("GET",),
    "/metrics": ("GET",),
    "/agents": ("GET", "POST"),
    "/agents/{id}": ("GET", "PATCH", "DELETE"),
}


@dataclass
class _Reply:
    status: HTTPStatus
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _json_reply(
    status: HTTPStatus, payload: object, headers: dict[str, str] | None = None
) -> _Reply:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return _Reply(status, body, "application/json; charset=utf-8", headers or {})


class _Handler(BaseHTTPRequestHandler):
    server: ControlPanelServer
    server_version = f"ironcage-control-panel/{__version__}"
    sys_version = ""
    timeout = 10  # seconds per read or write: a stalled client lets its thread go

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # The default handler logs to stderr; request logs are emitted as JSON in _dispatch.
        return

    # -- plumbing ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        started = time.perf_counter()
        path = urlsplit(self.path).path
        route, agent_id = _route_of(path)
        try:
            reply = self._handle(route, agent_id)
        except _HTTPError as exc:
            reply = _json_reply(exc.status, {"error": exc.message}, exc.headers)
        except Exception as exc:
            self.server.logger.error(
                "unhandled error",
                method=self.command,
                path=path,
                error=repr(exc),
                traceback=traceback.format_exc(),
            )
            reply = _json_reply(
                HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal server error"}
            )
        # Record before replying, so a client that saw the reply also sees its metrics/log.
        elapsed = time.perf_counter() - started
        self.server.metrics.observe(self.command, route, int(reply.status), elapsed)
        self.server.logger.info(
            "request",
            method=self.command,
            path=path,
            route=route,
            status=int(reply.status),
            duration_ms=round(elapsed * 1000, 3),
            client=self.client_address[0],
        )
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        if reply.status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)

    def _require_auth(self) -> None:
        header = self.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        presented = credentials.strip().encode("utf-8")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(presented, self.server.token)
        if not ok:
            raise _HTTPError(
                HTTPStatus.UNAUTHORIZED,
                "missing or invalid bearer token",
                {"WWW-Authenticate": 'Bearer realm="ironcage-control-panel"'},
            )

    def _read_json_object(self) -> dict[str, Any]:
        raw_length = self.headers.get("Content-Length")
        try:
            length = int(raw_length) if raw_length is not None else 0
        except ValueError:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "invalid Content-Length") from None
        if length < 0:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "invalid Content-Length")
        if length > MAX_BODY_BYTES:
            raise _HTTPError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body must be at most {MAX_BODY_BYTES} bytes",
            )
        raw = self.rfile.read(length) if length else b""
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "request body must be a JSON object") from None
        if not isinstance(payload, dict):
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "request body must be a JSON object")
        return payload

    # -- routes -----------------------------------------------------------------------------

    def _handle(self, route: str, agent_id: int | None) -> _Reply:
        if route == "unmatched":
            raise _HTTPError(HTTPStatus.NOT_FOUND, "not found")
        allowed = _ALLOWED[route]
        if route not in ("/health", "/metrics"):
            self._require_auth()
        if self.command not in allowed:
            raise _HTTPError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"method {self.command} not allowed",
                {"Allow": ", ".join(allowed)},
            )
        handler: Callable[[int | None], _Reply] = getattr(
            self, f"_{self.command.lower()}_{route.strip('/').replace('/{id}', '_item')}"
        )
        return handler(agent_id)

    def _get_health(self, _agent_id: int | None) -> _Reply:
        if self.server.store.ping():
            return _json_reply(
                HTTPStatus.OK, {"status": "ok", "version": __version__, "database": "ok"}
            )
        return _json_reply(
            HTTPStatus.SERVICE_UNAVAILABLE,
            {"status": "error", "version": __version__, "database": "error"},
        )

    def _get_metrics(self, _agent_id: int | None) -> _Reply:
        try:
            agents_total: int | None = self.server.store.count_agents()
        except Exception:
            agents_total = None
        body = self.server.metrics.render(agents_total).encode("utf-8")
        return _Reply(HTTPStatus.OK, body, "text/plain; version=0.0.4; charset=utf-8")

    def _get_agents(self, _agent_id: int | None) -> _Reply:
        query = parse_qs(urlsplit(self.path).query)
        try:
            limit = int(query.get("limit", [str(DEFAULT_PAGE)])[0])
            after = int(query.get("after", ["0"])[0])
        except ValueError:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "limit and after must be integers") from None
        if not 1 <= limit <= MAX_PAGE:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, f"limit must be between 1 and {MAX_PAGE}")
        found = self.server.store.list_agents(limit + 1, after)
        agents = [agent.to_dict() for agent in found[:limit]]
        following = found[limit - 1].id if len(found) > limit else None
        return _json_reply(HTTPStatus.OK, {"agents": agents, "next": following})

    def _post_agents(self, _agent_id: int | None) -> _Reply:
        payload = self._read_json_object()
        unknown = sorted(set(payload) - {"name", "description"})
        if unknown:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, f"unknown field(s): {', '.join(unknown)}")
        if "name" not in payload:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "name is required")
        try:
            agent = self.server.store.create_agent(payload["name"], payload.get("description", ""))
        except ValidationError as exc:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        except AgentExistsError as exc:
            raise _HTTPError(HTTPStatus.CONFLICT, str(exc)) from None
        self.server.logger.info("agent created", agent_id=agent.id, agent_name=agent.name)
        return _json_reply(
            HTTPStatus.CREATED, agent.to_dict(), {"Location": f"/api/agents/{agent.id}"}
        )

    def _get_agents_item(self, agent_id: int | None) -> _Reply:
        assert agent_id is not None
        agent = self.server.store.get_agent(agent_id)
        if agent is None:
            raise _HTTPError(HTTPStatus.NOT_FOUND, f"agent {agent_id} not found")
        return _json_reply(HTTPStatus.OK, agent.to_dict())

    def _patch_agents_item(self, agent_id: int | None) -> _Reply:
        assert agent_id is not None
        payload = self._read_json_object()
        unknown = sorted(set(payload) - {"description"})
        if unknown:
            raise _HTTPError(
                HTTPStatus.BAD_REQUEST,
                f"only description can be changed; unknown or read-only field(s): "
                f"{', '.join(unknown)}",
            )
        if "description" not in payload:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "description is required")
        try:
            agent = self.server.store.update_agent(agent_id, payload["description"])
        except ValidationError as exc:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        if agent is None:
            raise _HTTPError(HTTPStatus.NOT_FOUND, f"agent {agent_id} not found")
        return _json_reply(HTTPStatus.OK, agent.to_dict())

    def _delete_agents_item(self, agent_id: int | None) -> _Reply:
        assert agent_id is not None
        if not self.server.store.delete_agent(agent_id):
            raise _HTTPError(HTTPStatus.NOT_FOUND, f"agent {agent_id} not found")
        self.server.logger.info("agent deleted", agent_id=agent_id)
        return _Reply(HTTPStatus.NO_CONTENT)


class ControlPanelServer(ThreadingHTTPServer):
    """The API server. ``server_close()`` waits for in-flight requests to finish."""

    daemon_threads = False
    block_on_close = True
    # A deep backlog: twenty clients at once must not see connection resets.
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        *,
        store: AgentStore,
        token: str,
        logger: JsonLogger | None = None,
    ) -> None:
        if not token or not token.strip():
            raise ValueError(f"{TOKEN_ENV} must be set to a non-empty value")
        self.store = store
        self.token = token.encode("utf-8")
        self.logger = logger or JsonLogger()
        self.metrics = Metrics()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Handle the connection on a thread, or answer 503 when every slot is taken."""
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def create_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    db_path: str | Path,
    token: str,
    logger: JsonLogger | None = None,
) -> ControlPanelServer:
    """Migrate the database at ``db_path`` and bind a server (call ``serve_forever()`` on it).

    Raises ``ValueError`` if ``token`` is empty.
    """
    if not token or not token.strip():
        raise ValueError(f"{TOKEN_ENV} must be set to a non-empty value")
    logger = logger or JsonLogger()
    store = AgentStore(db_path)
    applied = store.migrate()
    logger.info(
        "database ready",
        db=str(store.path),
        migrations_applied=applied,
        schema_version=max(store.schema_versions(), default=0),
    )
    return ControlPanelServer((host, port), store=store, token=token, logger=logger)


# -- CLI --------------------------------------------------------------------------------------


def _default_port() -> int:
    raw = os.environ.get("PORT", "")
    if not raw:
        return DEFAULT_PORT
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(
            f"ironcage-control-panel: error: PORT must be an integer, got {raw!r}"
        ) from None


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ironcage-control-panel",
        description=(
            "Serve the IronCage control panel API. Requires the CONTROL_PANEL_TOKEN "
            "environment variable (the bearer token clients must present)."
        ),
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port to bind (default: $PORT or {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--db",
        default=None,
        help=f"SQLite database path (default: ${DB_ENV} or {DEFAULT_DB})",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    if args.port is None:
        args.port = _default_port()
    if args.db is None:
        args.db = os.environ.get(DB_ENV) or DEFAULT_DB
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logger = JsonLogger()
    token = os.environ.get(TOKEN_ENV, "")
    if not token.strip():
        message = (
            f"{TOKEN_ENV} is not set (or empty): refusing to start. "
            f"Set {TOKEN_ENV} to the bearer token API clients must present."
        )
        logger.error(message)
        print(f"ironcage-control-panel: error: {message}", file=sys.stderr)
        return 2
    try:
        server = create_server(args.host, args.port, db_path=args.db, token=token, logger=logger)
    except Exception as exc:
        logger.error("failed to start", error=repr(exc), db=str(args.db))
        print(f"ironcage-control-panel: error: failed to start: {exc}", file=sys.stderr)
        return 1

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("shutting down", signal=signal.Signals(signum).name)
        # shutdown() blocks until serve_forever() returns, so it must not run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    host, port = server.server_address[:2]
    logger.info("listening", host=host, port=port, version=__version__)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        logger.info("stopped")
    return 0
