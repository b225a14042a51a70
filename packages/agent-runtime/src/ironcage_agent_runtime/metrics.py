"""Prometheus text-format metrics for the runtime (no client library needed)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping

PREFIX = "ironcage_agent_runtime"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)
    return "{" + inner + "}" if inner else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """Counters updated by the HTTP handler and the workers, rendered on GET /metrics."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.start_time = time.time()
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str, str]] = Counter()
        self._request_seconds: dict[str, list[float]] = {}
        self._tasks_submitted = 0
        self._tasks_finished: Counter[str] = Counter()
        self._steps: Counter[str] = Counter()

    def observe_request(self, method: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, path, str(status))] += 1
            total = self._request_seconds.setdefault(path, [0.0, 0.0])
            total[0] += seconds
            total[1] += 1

    def task_submitted(self) -> None:
        with self._lock:
            self._tasks_submitted += 1

    def task_finished(self, status: str) -> None:
        with self._lock:
            self._tasks_finished[status] += 1

    def step_finished(self, stopped: str) -> None:
        with self._lock:
            self._steps[stopped] += 1

    def render(
        self,
        *,
        tasks_by_status: Mapping[str, int],
        queue_depth: int,
        workers: int,
        busy_workers: int,
    ) -> str:
        with self._lock:
            requests = sorted(self._requests.items())
            durations = sorted((path, tuple(v)) for path, v in self._request_seconds.items())
            submitted = self._tasks_submitted
            finished = sorted(self._tasks_finished.items())
            steps = sorted(self._steps.items())
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")

        def sample(name: str, value: float, labels: Iterable[tuple[str, str]] = ()) -> None:
            lines.append(f"{name}{_labels(labels)} {_number(value)}")

        family(f"{PREFIX}_info", "gauge", "Build information.")
        sample(f"{PREFIX}_info", 1, [("version", self.version)])
        family("process_start_time_seconds", "gauge", "Start time of the process (Unix epoch).")
        sample("process_start_time_seconds", round(self.start_time, 3))
        name = f"{PREFIX}_http_requests_total"
        family(name, "counter", "HTTP requests handled, by method, path and status.")
        for (method, path, status), count in requests:
            sample(name, count, [("method", method), ("path", path), ("status", status)])
        name = f"{PREFIX}_http_request_duration_seconds"
        family(name, "summary", "Time spent handling HTTP requests, by path.")
        for path, (seconds, observed) in durations:
            sample(f"{name}_sum", round(seconds, 6), [("path", path)])
            sample(f"{name}_count", observed, [("path", path)])
        name = f"{PREFIX}_tasks"
        family(name, "gauge", "Tasks currently known to the runtime, by status.")
        for status, count in tasks_by_status.items():
            sample(name, count, [("status", status)])
        name = f"{PREFIX}_tasks_submitted_total"
        family(name, "counter", "Tasks accepted by POST /tasks.")
        sample(name, submitted)
        name = f"{PREFIX}_tasks_finished_total"
        family(name, "counter", "Tasks that reached a terminal status, by status.")
        for status, count in finished:
            sample(name, count, [("status", status)])
        name = f"{PREFIX}_steps_total"
        family(name, "counter", "Steps run in the sandbox, by how they stopped.")
        for stopped, count in steps:
            sample(name, count, [("stopped", stopped)])
        family(f"{PREFIX}_queue_depth", "gauge", "Tasks waiting for a worker.")
        sample(f"{PREFIX}_queue_depth", queue_depth)
        family(f"{PREFIX}_workers", "gauge", "Worker threads.")
        sample(f"{PREFIX}_workers", workers)
        family(f"{PREFIX}_workers_busy", "gauge", "Worker threads running a task.")
        sample(f"{PREFIX}_workers_busy", busy_workers)
        return "\n".join(lines) + "\n"
