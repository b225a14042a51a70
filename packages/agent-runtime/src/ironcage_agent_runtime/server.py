"""The HTTP service: POST /tasks, GET /tasks/{id}, GET /tasks, GET /health, GET /metrics.

Every /tasks route needs ``Authorization: Bearer <token>`` (compared in constant time);
/health and /metrics stay open.
"""

from __future__ import annotations

import hmac
import json
import re
import sys
import threading
import time
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ironcage_sandbox

from ironcage_agent_runtime import __version__
from ironcage_agent_runtime._http import BoundedHTTPServer
from ironcage_agent_runtime._log import JsonLogger
from ironcage_agent_runtime.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ironcage_agent_runtime.metrics import Metrics
from ironcage_agent_runtime.store import MAX_PAGE, Backend, MemoryBackend
from ironcage_agent_runtime.tasks import Runner, StepResult, Task, TaskSpec
from ironcage_agent_runtime.tasks import ValidationError as TaskValidationError
from ironcage_agent_runtime.worker import QueueFullError, WorkerPool

DEFAULT_PAGE = 50

MAX_BODY_BYTES = 1024 * 1024
_MAX_DISCARD_BYTES = 16 * MAX_BODY_BYTES
_TASK_PATH = re.compile(r"^/tasks/([0-9a-f]{32})$")
_KNOWN_PATHS = {"/health": ("GET",), "/metrics": ("GET",), "/tasks": ("GET", "POST")}


class _HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _route_label(path: str) -> str:
    """A low-cardinality path label for metrics."""
    if path in _KNOWN_PATHS:
        return path
    if path.startswith("/tasks/"):
        return "/tasks/{id}"
    return "other"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = f"ironcage-agent-runtime/{__version__}"
    timeout = 30  # per socket operation; the server's read deadline bounds a whole request

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr access log; requests are logged as JSON instead."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        if method != "POST":
            self.server.disarm(self.connection)
        started = time.monotonic()
        path = urlsplit(self.path).path
        status = 500
        try:
            status = self._dispatch(method, path)
        except _HttpError as exc:
            status = exc.status
            self._send_json(status, {"error": exc.message}, exc.headers)
        except Exception as exc:  # never leak a traceback to the client
            self.server.app.log.error("unhandled error", method=method, path=path, error=repr(exc))
            status = 500
            self._send_json(500, {"error": "internal server error"})
        finally:
            elapsed = time.monotonic() - started
            self.server.app.metrics.observe_request(method, _route_label(path), status, elapsed)
            self.server.app.log.info(
                "request",
                method=method,
                path=path,
                status=status,
                duration_ms=round(elapsed * 1000, 3),
                client=self.client_address[0],
            )

    def _dispatch(self, method: str, path: str) -> int:
        app = self.server.app
        allowed = _KNOWN_PATHS.get(path) or (("GET",) if _TASK_PATH.match(path) else None)
        if allowed is None:
            raise _HttpError(404, f"not found: {path}")
        if method not in allowed:
            raise _HttpError(405, f"method {method} not allowed", {"Allow": ", ".join(allowed)})
        if path == "/health":
            health = app.health()
            return self._send_json(200 if health["status"] == "ok" else 503, health)
        if path == "/metrics":
            body = app.render_metrics().encode("utf-8")
            return self._send(200, body, METRICS_CONTENT_TYPE)
        self._require_token()
        if path == "/tasks" and method == "GET":
            limit, cursor = self._page_query()
            tasks, following = app.store.page(limit, cursor)
            next_cursor = None if following is None else str(following)
            return self._send_json(
                200, {"tasks": [t.summary() for t in tasks], "next": next_cursor}
            )
        if path == "/tasks":
            spec = self._read_spec()
            try:
                task = app.submit(spec)
            except QueueFullError as exc:
                raise _HttpError(503, str(exc), {"Retry-After": "5"}) from None
            return self._send_json(
                202, {"id": task.id, "status": "queued"}, {"Location": f"/tasks/{task.id}"}
            )
        match = _TASK_PATH.match(path)
        found = app.store.get(match.group(1)) if match else None
        if found is None:
            raise _HttpError(404, "task not found")
        return self._send_json(200, found.to_dict())

    def _require_token(self) -> None:
        scheme, _, presented = self.headers.get("Authorization", "").partition(" ")
        valid = scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode("utf-8"), self.server.app.token
        )
        if not valid:
            if self.command == "POST":  # read the body, so the client sees the 401
                self._discard_body(self._content_length())
                self.server.disarm(self.connection)
            raise _HttpError(
                401,
                "missing or invalid bearer token",
                {"WWW-Authenticate": 'Bearer realm="ironcage-agent-runtime"'},
            )

    def _content_length(self) -> int:
        try:
            return max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            return 0

    def _page_query(self) -> tuple[int, int | None]:
        query = parse_qs(urlsplit(self.path).query)
        try:
            limit = int(query.get("limit", [str(DEFAULT_PAGE)])[0])
            raw_cursor = query.get("cursor", [""])[0]
            cursor = int(raw_cursor) if raw_cursor else None
        except ValueError:
            raise _HttpError(400, "limit and cursor must be integers") from None
        if not 1 <= limit <= MAX_PAGE:
            raise _HttpError(400, f"limit must be between 1 and {MAX_PAGE}")
        return limit, cursor

    def _read_spec(self) -> TaskSpec:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise _HttpError(411, "Content-Length is required")
        try:
            length = int(length_header)
        except ValueError:
            raise _HttpError(400, "invalid Content-Length") from None
        if length < 0:
            raise _HttpError(400, "invalid Content-Length")
        if length > MAX_BODY_BYTES:
            self._discard_body(length)
            raise _HttpError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        try:
            raw = self.rfile.read(length)
        except (TimeoutError, OSError):
            self.close_connection = True
            raise _HttpError(408, "request body not received in time") from None
        finally:
            self.server.disarm(self.connection)
        if len(raw) < length:
            self.close_connection = True
            raise _HttpError(408, "request body not received in time")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _HttpError(400, f"invalid JSON: {exc}") from None
        try:
            return TaskSpec.from_json(data)
        except TaskValidationError as exc:
            raise _HttpError(400, str(exc)) from None

    def _discard_body(self, length: int) -> None:
        """Read (a bounded amount of) an unwanted body so the client sees our error response."""
        remaining = min(length, _MAX_DISCARD_BYTES)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)

    def _send_json(
        self, status: int, payload: object, headers: dict[str, str] | None = None
    ) -> int:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        return self._send(status, body, "application/json", headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> int:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status


class _Server(BoundedHTTPServer):
    def __init__(
        self,
        address: tuple[str, int],
        app: AgentRuntimeServer,
        max_connections: int,
        read_timeout: float,
    ) -> None:
        self.app = app
        super().__init__(
            address, _Handler, max_connections=max_connections, read_timeout=read_timeout
        )


class AgentRuntimeServer:
    """The runtime: task store, worker pool, metrics and the HTTP server (bound on creation).

    Use ``serve_forever()`` in the foreground, or ``start()`` for a background thread; then
    ``close()`` (or use it as a context manager). ``token`` is the bearer token clients of
    /tasks present; ``store`` is where tasks live (in memory unless given, e.g. a
    :class:`~ironcage_agent_runtime.redis_store.RedisBackend`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str,
        workers: int = 1,
        max_queue: int = 1000,
        max_tasks: int = 10_000,
        store: Backend | None = None,
        runner: Runner | None = None,
        python: str | Sequence[str] = sys.executable,
        output_limit: int = 65536,
        max_connections: int = 256,
        read_timeout: float = 10.0,
        logger: JsonLogger | None = None,
    ) -> None:
        if not token or not token.strip():
            raise ValueError("the bearer token (AGENT_RUNTIME_TOKEN) must not be empty")
        self.token = token.strip().encode("utf-8")
        self.log = logger or JsonLogger()
        self.metrics = Metrics(__version__)
        self.store: Backend = store or MemoryBackend(max_tasks=max_tasks, max_queue=max_queue)
        self.pool = WorkerPool(
            self.store,
            workers=workers,
            runner=runner,
            python=python,
            output_limit=output_limit,
            logger=self.log,
            on_step=self._step_finished,
            on_finish=self._task_finished,
        )
        self._httpd = _Server((host, port), self, max_connections, read_timeout)
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._closed = False

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def submit(self, spec: TaskSpec) -> Task:
        task = self.pool.submit(spec)
        self.metrics.task_submitted()
        self.log.info("task queued", task_id=task.id, steps=len(spec.steps))
        return task

    def health(self) -> dict[str, object]:
        try:
            healthy, depth = self.store.healthy(), self.pool.queue_depth
        except Exception:
            healthy, depth = False, -1
        return {
            "status": "ok" if healthy else "degraded",
            "store": "redis" if self.store.shared else "memory",
            "confinement": ironcage_sandbox.confinement_support(),
            "version": __version__,
            "workers": self.pool.workers,
            "busy_workers": self.pool.busy,
            "queue_depth": depth,
            "uptime_seconds": round(time.monotonic() - self._started, 3),
        }

    def render_metrics(self) -> str:
        return self.metrics.render(
            tasks_by_status=self.store.counts(),
            queue_depth=self.pool.queue_depth,
            workers=self.pool.workers,
            busy_workers=self.pool.busy,
        )

    def serve_forever(self) -> None:
        """Start the workers and serve HTTP until :meth:`shutdown` is called."""
        self.store.start()
        self.pool.start()
        self._httpd.serve_forever(poll_interval=0.05)

    def start(self) -> None:
        """Serve in a background thread (tests, embedding)."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="ironcage-agent-runtime-http", daemon=True
        )
        self._thread.start()

    def shutdown(self) -> None:
        """Stop the HTTP loop (from another thread than the one serving)."""
        self._httpd.shutdown()

    def close(self, grace_seconds: float = 10.0) -> None:
        """Stop serving, stop the workers (waiting up to ``grace_seconds``) and free the port."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self.pool.stop(grace_seconds)
        self._httpd.server_close()
        self.store.close()

    def __enter__(self) -> AgentRuntimeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _step_finished(self, step: StepResult) -> None:
        self.metrics.step_finished(step.result.stopped)

    def _task_finished(self, task: Task) -> None:
        self.metrics.task_finished(task.status)
