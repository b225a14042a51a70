"""A pool of worker threads that take tasks from the backend's queue and run them."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

import ironcage_sandbox

from ironcage_agent_runtime._log import JsonLogger
from ironcage_agent_runtime.store import Backend, QueueFullError
from ironcage_agent_runtime.tasks import Runner, StepResult, Task, TaskSpec, execute_task

__all__ = ["QueueFullError", "WorkerPool"]

_POLL_SECONDS = 1.0


class WorkerPool:
    """Runs submitted tasks on ``workers`` threads; ``submit`` never blocks.

    With a shared backend ``workers`` may be 0: this process then only accepts tasks, and
    other replicas run them.
    """

    def __init__(
        self,
        store: Backend,
        *,
        workers: int = 1,
        runner: Runner | None = None,
        python: str | Sequence[str] = sys.executable,
        output_limit: int = 65536,
        logger: JsonLogger | None = None,
        on_step: Callable[[StepResult], None] | None = None,
        on_finish: Callable[[Task], None] | None = None,
    ) -> None:
        if workers < 0 or (workers == 0 and not store.shared):
            raise ValueError("workers must be >= 1 (0 only with a shared store such as Redis)")
        self.store = store
        self.workers = workers
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
        return self.store.queue_depth()

    @property
    def busy(self) -> int:
        with self._busy_lock:
            return self._busy

    def start(self) -> None:
        if self._threads:
            return
        for number in range(self.workers):
            thread = threading.Thread(
                target=self._work, args=(f"w{number}",), name=f"ironcage-worker-{number}",
                daemon=True,
            )  # fmt: skip
            thread.start()
            self._threads.append(thread)

    def submit(self, spec: TaskSpec) -> Task:
        """Queue a new task for ``spec``; raises :class:`QueueFullError` when full."""
        if self._stopping.is_set():
            raise QueueFullError("the runtime is shutting down")
        task = Task(spec=spec)
        self.store.create(task)
        return task

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop taking tasks and wait up to ``grace_seconds`` for the running ones.

        Queued tasks of an in-memory store fail as cancelled; a shared store keeps them for
        the other replicas (or this one after a restart).
        """
        self._stopping.set()
        for task in self.store.cancel_queued():
            self._finished(task)
        self.store.wake(len(self._threads))
        deadline = time.monotonic() + grace_seconds
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        if alive:
            self._log.warning("workers still running at shutdown", workers=alive)

    def _work(self, worker: str) -> None:
        while not self._stopping.is_set():
            try:
                task = self.store.take(worker, _POLL_SECONDS)
            except Exception as exc:  # the store is down: wait, then try again
                self._log.error("cannot take a task", worker=worker, error=str(exc))
                self._stopping.wait(_POLL_SECONDS)
                continue
            if task is None:
                continue
            if self._stopping.is_set():
                self.store.give_back(worker, task)
                if task.done:
                    self._finished(task)
                return
            self._run(worker, task)

    def _run(self, worker: str, task: Task) -> None:
        with self._busy_lock:
            self._busy += 1
        self._log.info("task started", task_id=task.id, steps=len(task.spec.steps))
        try:
            execute_task(
                task,
                self._runner,
                output_limit=self._output_limit,
                on_step=self._on_step,
                on_change=self.store.save,
            )
        except Exception as exc:  # a bug must not kill the worker thread
            self._log.error("task crashed", task_id=task.id, error=repr(exc))
            task.finish("failed", "internal error while running the task")
        finally:
            with self._busy_lock:
                self._busy -= 1
        try:
            self.store.save(task)
            self.store.done(worker, task)
        except Exception as exc:
            self._log.error("cannot record a finished task", task_id=task.id, error=str(exc))
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
