"""Tasks: a list of Python steps run one after another in the sandbox under a time budget."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ironcage_sandbox import Result, SandboxError

from ironcage_agent_runtime._log import utc_now_iso

TaskStatus: TypeAlias = Literal["queued", "running", "succeeded", "failed", "budget_exceeded"]
STATUSES: tuple[TaskStatus, ...] = ("queued", "running", "succeeded", "failed", "budget_exceeded")
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "budget_exceeded"})

MAX_STEPS = 100
MAX_STEP_CHARS = 100_000
MAX_BUDGET_SECONDS = 3600.0
MAX_STEP_TIMEOUT_SECONDS = 600.0
DEFAULT_BUDGET_SECONDS = 30.0
DEFAULT_STEP_TIMEOUT_SECONDS = 10.0
DEFAULT_MEMORY_MB = 256
MIN_MEMORY_MB = 32
MAX_MEMORY_MB = 4096

Runner: TypeAlias = Callable[..., Result]
"""Called as ``runner(code, timeout=, cpu_seconds=, memory_mb=, output_limit=)``."""

_FIELDS = frozenset({"steps", "budget_seconds", "step_timeout_seconds", "memory_mb"})


class ValidationError(ValueError):
    """A task request is malformed; the message is safe to show to the client."""


def _number(data: Mapping[str, Any], key: str, default: float, maximum: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{key} must be a number")
    if not math.isfinite(value) or value <= 0 or value > maximum:
        raise ValidationError(f"{key} must be > 0 and <= {maximum:g}")
    return float(value)


@dataclass(frozen=True)
class TaskSpec:
    """What to run: the steps and the limits."""

    steps: tuple[str, ...]
    budget_seconds: float = DEFAULT_BUDGET_SECONDS
    step_timeout_seconds: float = DEFAULT_STEP_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB

    @classmethod
    def from_json(cls, data: object) -> TaskSpec:
        """Validate a decoded JSON request body; raises :class:`ValidationError`."""
        if not isinstance(data, dict):
            raise ValidationError("request body must be a JSON object")
        unknown = sorted(str(key) for key in data if key not in _FIELDS)
        if unknown:
            raise ValidationError(f"unknown field(s): {', '.join(unknown)}")
        if "steps" not in data:
            raise ValidationError("steps is required")
        steps = data["steps"]
        if not isinstance(steps, list) or not steps:
            raise ValidationError("steps must be a non-empty list of strings")
        if len(steps) > MAX_STEPS:
            raise ValidationError(f"too many steps: {len(steps)} > {MAX_STEPS}")
        for index, step in enumerate(steps):
            if not isinstance(step, str) or not step.strip():
                raise ValidationError(f"steps[{index}] must be a non-empty string")
            if len(step) > MAX_STEP_CHARS:
                raise ValidationError(f"steps[{index}] is longer than {MAX_STEP_CHARS} characters")
        budget = _number(data, "budget_seconds", DEFAULT_BUDGET_SECONDS, MAX_BUDGET_SECONDS)
        step_timeout = _number(
            data, "step_timeout_seconds", DEFAULT_STEP_TIMEOUT_SECONDS, MAX_STEP_TIMEOUT_SECONDS
        )
        memory = data.get("memory_mb", DEFAULT_MEMORY_MB)
        if isinstance(memory, bool) or not isinstance(memory, int):
            raise ValidationError("memory_mb must be an integer")
        if not MIN_MEMORY_MB <= memory <= MAX_MEMORY_MB:
            raise ValidationError(f"memory_mb must be between {MIN_MEMORY_MB} and {MAX_MEMORY_MB}")
        return cls(tuple(steps), budget, step_timeout, memory)


@dataclass(frozen=True)
class StepResult:
    """The sandbox result of one step, with the timeout it was given."""

    index: int
    timeout: float
    result: Result

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"index": self.index, "timeout": round(self.timeout, 3)}
        data.update(self.result.to_dict())
        return data


@dataclass
class Task:
    """A submitted task and its progress; safe to read from other threads via ``to_dict``."""

    spec: TaskSpec
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: TaskStatus = "queued"
    created_at: str = field(default_factory=utc_now_iso)
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    results: list[StepResult] = field(default_factory=list)
    attempts: int = 0
    seq: int = 0
    _elapsed: float | None = field(default=None, repr=False)
    _started: float | None = field(default=None, repr=False)
    _finished: float | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the task reaches a terminal status; False on timeout."""
        return self._done.wait(timeout)

    def mark_running(self) -> None:
        with self._lock:
            self.status = "running"
            self.started_at = utc_now_iso()
            self._started = time.monotonic()

    def add_result(self, step: StepResult) -> None:
        with self._lock:
            self.results.append(step)

    def finish(self, status: TaskStatus, error: str | None = None) -> None:
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"not a terminal status: {status}")
        with self._lock:
            if self.done:
                return
            self.status = status
            self.error = error
            self.finished_at = utc_now_iso()
            self._finished = time.monotonic()
        self._done.set()

    @property
    def elapsed_seconds(self) -> float:
        if self._started is None:
            return self._elapsed or 0.0
        end = self._finished if self._finished is not None else time.monotonic()
        return round(end - self._started, 6)

    def summary(self) -> dict[str, object]:
        with self._lock:
            return {"id": self.id, "status": self.status, "created_at": self.created_at}

    def to_dict(self) -> dict[str, object]:
        with self._lock:
            return {
                "id": self.id,
                "status": self.status,
                "created_at": self.created_at,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "elapsed_seconds": self.elapsed_seconds,
                "budget_seconds": self.spec.budget_seconds,
                "step_timeout_seconds": self.spec.step_timeout_seconds,
                "memory_mb": self.spec.memory_mb,
                "steps": list(self.spec.steps),
                "results": [step.to_dict() for step in self.results],
                "error": self.error,
            }

    def to_record(self) -> dict[str, object]:
        """Everything needed to rebuild the task in another process (see ``from_record``)."""
        data = self.to_dict()
        data.update(attempts=self.attempts, seq=self.seq)
        return data

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Task:
        """The task ``to_record`` wrote (in this or another runtime process)."""
        spec = TaskSpec(
            tuple(data["steps"]),
            float(data["budget_seconds"]),
            float(data["step_timeout_seconds"]),
            int(data["memory_mb"]),
        )
        results = [
            StepResult(
                index=int(item["index"]),
                timeout=float(item["timeout"]),
                result=Result(
                    exit_code=item["exit_code"],
                    stdout=item["stdout"],
                    stderr=item["stderr"],
                    duration=float(item["duration"]),
                    stopped=item["stopped"],
                    cpu_time=float(item.get("cpu_time", 0.0)),
                ),
            )
            for item in data.get("results", [])
        ]
        task = cls(
            spec=spec,
            id=str(data["id"]),
            status=data["status"],
            created_at=str(data["created_at"]),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            error=data.get("error"),
            results=results,
            attempts=int(data.get("attempts", 0)),
            seq=int(data.get("seq", 0)),
            _elapsed=float(data.get("elapsed_seconds") or 0.0),
        )
        if task.done:
            task._done.set()
        return task


def execute_task(
    task: Task,
    runner: Runner,
    *,
    output_limit: int = 65536,
    clock: Callable[[], float] = time.monotonic,
    on_step: Callable[[StepResult], None] | None = None,
    on_change: Callable[[Task], None] | None = None,
) -> TaskStatus:
    """Run the task's steps in order, stopping at the first failure or when the budget is spent.

    Each step gets ``min(step_timeout_seconds, remaining budget)`` seconds of wall time and the
    same (rounded up) in CPU seconds. A step stopped by time while it was cut short by the budget
    makes the task ``budget_exceeded``; any other non-ok step makes it ``failed``.
    ``on_change`` sees the task once it runs and after every step (a shared store saves it).
    """
    spec = task.spec
    task.mark_running()
    if on_change is not None:
        on_change(task)
    start = clock()
    for index, code in enumerate(spec.steps):
        remaining = spec.budget_seconds - (clock() - start)
        if remaining <= 0:
            task.finish(
                "budget_exceeded",
                f"budget of {spec.budget_seconds:g}s spent before step {index}",
            )
            return task.status
        limited = remaining < spec.step_timeout_seconds
        timeout = min(spec.step_timeout_seconds, remaining)
        try:
            result = runner(
                code,
                timeout=timeout,
                cpu_seconds=max(1, math.ceil(timeout)),
                memory_mb=spec.memory_mb,
                output_limit=output_limit,
            )
        except SandboxError as exc:
            task.finish("failed", f"step {index}: sandbox error: {exc}")
            return task.status
        step = StepResult(index=index, timeout=timeout, result=result)
        task.add_result(step)
        if on_change is not None and index + 1 < len(spec.steps):
            on_change(task)
        if on_step is not None:
            on_step(step)
        if result.ok:
            continue
        if limited and result.stopped in ("timeout", "cpu"):
            task.finish(
                "budget_exceeded",
                f"budget of {spec.budget_seconds:g}s spent during step {index}",
            )
        elif result.stopped == "exited":
            task.finish("failed", f"step {index} exited with code {result.exit_code}")
        else:
            task.finish("failed", f"step {index} stopped: {result.stopped} limit")
        return task.status
    task.finish("succeeded")
    return task.status
