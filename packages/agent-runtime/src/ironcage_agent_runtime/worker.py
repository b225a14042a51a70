"""A pool of worker threads that take tasks from a bounded queue and run them."""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

import ironcage_sandbox

from ironcage_agent_runtime._log import JsonLogger
from ironcage_agent_runtime.tasks import (
    Runner,
    StepResult,
    Task,
    TaskSpec,
    TaskStore,
    execute_task,
)

_POLL_SECONDS = 1.0


class QueueFullError(RuntimeError):
    """The task queue is at capacity; the client should retry later."""


class WorkerPool:
    """Runs submitted tasks on ``workers`` threads; ``submit`` never blocks."""

    def __init__(
        self,
        store: TaskStore,
        *,
        workers: int = 1,
        max_queue: int = 1000,
        runner: Runner | None = None,
        python: str | Sequence[str] = sys.executable,
        output_limit: int = 65536,
        logger: JsonLogger | None = None,
        on_step: Callable[[StepResult], None] | None = None,
        on_finish: Callable[[Task], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if max_queue < 1:
            raise ValueError("max_queue must be >= 1")
        self.store = store
        self.workers = workers
        self._queue: queue.Queue[Task | None] = queue.Queue(maxsize=max_queue)
        self._runner: Runner = runner or partial(ironcage_sandbox.run, python=python)
        self._output_limit = output_limit
        self._log = logger or JsonLogger()
        self._on_step = on_step
        self._on_finish = on_finish
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def busy(self) -> int:
        with self._busy_lock:
            return self._busy

    def start(self) -> None:
        if self._threads:
            return
        for number in range(self.workers):
            thread = threading.Thread(
                target=self._work, name=f"ironcage-worker-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def submit(self, spec: TaskSpec) -> Task:
        """Queue a new task for ``spec``; raises :class:`QueueFullError` when full."""
        if self._stopping.is_set():
            raise QueueFullError("the runtime is shutting down")
        task = Task(spec=spec)
        self.store.add(task)
        try:
            self._queue.put_nowait(task)
        except queue.Full:
            self.store.discard(task.id)
            raise QueueFullError("task queue is full, retry later") from None
        return task

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop taking tasks, fail the queued ones and wait up to ``grace_seconds`` for workers."""
        self._stopping.set()
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                break
            if task is not None:
                task.finish("failed", "cancelled: the runtime is shutting down")
                self._finished(task)
        for _ in self._threads:  # wake idle workers now rather than at their next poll
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
        deadline = time.monotonic() + grace_seconds
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        if alive:
            self._log.warning("workers still running at shutdown", workers=alive)

    def _work(self) -> None:
        while True:
            try:
                task = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            if task is None:
                return
            if self._stopping.is_set():
                task.finish("failed", "cancelled: the runtime is shutting down")
                self._finished(task)
                continue
            with self._busy_lock:
                self._busy += 1
            self._log.info("task started", task_id=task.id, steps=len(task.spec.steps))
            try:
                execute_task(
                    task, self._runner, output_limit=self._output_limit, on_step=self._on_step
                )
            except Exception as exc:  # a bug must not kill the worker thread
                self._log.error("task crashed", task_id=task.id, error=repr(exc))
                task.finish("failed", "internal error while running the task")
            finally:
                with self._busy_lock:
                    self._busy -= 1
            self._finished(task)

    def _finished(self, task: Task) -> None:
        self._log.info(
            "task finished",
            task_id=task.id,
            status=task.status,
            steps_run=len(task.results),
            duration_ms=round(task.elapsed_seconds * 1000, 1),
            error=task.error,
        )
        if self._on_finish is not None:
            self._on_finish(task)
