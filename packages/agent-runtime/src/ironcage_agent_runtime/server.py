"""The HTTP service: POST /tasks, GET /tasks/{id}, GET /tasks, GET /health, GET /metrics."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ironcage_agent_runtime import __version__
from ironcage_agent_runtime._log import JsonLogger
from ironcage_agent_runtime.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ironcage_agent_runtime.metrics import Metrics
from ironcage_agent_runtime.tasks import Runner, StepResult, Task, TaskSpec, TaskStore
from ironcage_agent_runtime.tasks import ValidationError as TaskValidationError
from ironcage_agent_runtime.worker import QueueFullError, WorkerPool

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
            return self._send_json(200, app.health())
        if path == "/metrics":
            body = app.render_metrics().encode("utf-8")
            return self._send(200, body, METRICS_CONTENT_TYPE)
        if path == "/tasks" and method == "GET":
            return self._send_json(200, {"tasks": [t.summary() for t in app.store.recent()]})
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
        raw = self.rfile.read(length)
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: AgentRuntimeServer) -> None:
        self.app = app
        super().__init__(address, _Handler)


class AgentRuntimeServer:
    """The runtime: task store, worker pool, metrics and the HTTP server (bound on creation).

    Use ``serve_forever()`` in the foreground, or ``start()`` for a background thread; then
    ``close()`` (or use it as a context manager).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        workers: int = 1,
        max_queue: int = 1000,
        max_tasks: int = 10_000,
        runner: Runner | None = None,
        python: str | Sequence[str] = sys.executable,
        output_limit: int = 65536,
        logger: JsonLogger | None = None,
    ) -> None:
        self.log = logger or JsonLogger()
        self.metrics = Metrics(__version__)
        self.store = TaskStore(max_tasks=max_tasks)
        self.pool = WorkerPool(
            self.store,
            workers=workers,
            max_queue=max_queue,
            runner=runner,
            python=python,
            output_limit=output_limit,
            logger=self.log,
            on_step=self._step_finished,
            on_finish=self._task_finished,
        )
        self._httpd = _Server((host, port), self)
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
        return {
            "status": "ok",
            "version": __version__,
            "workers": self.pool.workers,
            "busy_workers": self.pool.busy,
            "queue_depth": self.pool.queue_depth,
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

    def __enter__(self) -> AgentRuntimeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _step_finished(self, step: StepResult) -> None:
        self.metrics.step_finished(step.result.stopped)

    def _task_finished(self, task: Task) -> None:
        self.metrics.task_finished(task.status)
