"""Where tasks and the queue live: in this process, or shared in Redis (``redis_store``).

A backend stores tasks by id, hands queued tasks to workers and pages through the newest
first. ``shared`` backends outlive the process: their queued tasks are not cancelled at
shutdown, another replica (or the restarted one) runs them.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import OrderedDict
from typing import Protocol

from ironcage_agent_runtime.tasks import STATUSES, Task

__all__ = ["MAX_PAGE", "Backend", "MemoryBackend", "QueueFullError", "TaskStore"]

MAX_PAGE = 200


class QueueFullError(RuntimeError):
    """The task queue is at capacity; the client should retry later."""


class Backend(Protocol):
    """What the worker pool and the HTTP handler need from a task store and queue."""

    shared: bool

    def start(self) -> None:
        """Begin background upkeep (heartbeats, recovery), when the backend has any."""

    def create(self, task: Task) -> None:
        """Store a new task and queue it; QueueFullError when the queue is full."""

    def get(self, task_id: str) -> Task | None: ...

    def save(self, task: Task) -> None:
        """Record the task's progress (a no-op where tasks are shared objects)."""

    def take(self, worker: str, timeout: float) -> Task | None:
        """The next queued task for ``worker``, or None after ``timeout`` seconds."""

    def done(self, worker: str, task: Task) -> None:
        """``worker`` finished ``task`` (saved); it leaves the worker's hands."""

    def give_back(self, worker: str, task: Task) -> None:
        """``worker`` took ``task`` but will not run it: queue it again."""

    def cancel_queued(self) -> list[Task]:
        """Tasks taken off the queue at shutdown (none for a shared backend)."""

    def wake(self, workers: int) -> None:
        """Wake ``workers`` idle workers (at shutdown)."""

    def page(self, limit: int, cursor: int | None) -> tuple[list[Task], int | None]:
        """Newest tasks first, older than ``cursor``; the cursor of the next page or None."""

    def counts(self) -> dict[str, int]: ...

    def queue_depth(self) -> int: ...

    def healthy(self) -> bool: ...

    def close(self) -> None: ...


class MemoryBackend:
    """Tasks in this process; the oldest finished ones are forgotten beyond ``max_tasks``."""

    shared = False

    def __init__(self, max_tasks: int = 10_000, max_queue: int = 1000) -> None:
        if max_tasks < 1:
            raise ValueError("max_tasks must be >= 1")
        if max_queue < 1:
            raise ValueError("max_queue must be >= 1")
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._queue: queue.Queue[Task | None] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._max = max_tasks

    def start(self) -> None:
        return None

    def create(self, task: Task) -> None:
        self.add(task)
        try:
            self._queue.put_nowait(task)
        except queue.Full:
            self.discard(task.id)
            raise QueueFullError("task queue is full, retry later") from None

    def add(self, task: Task) -> None:
        with self._lock:
            task.seq = next(self._seq)
            self._tasks[task.id] = task
            if len(self._tasks) > self._max:
                for old_id in [tid for tid, old in self._tasks.items() if old.done]:
                    if len(self._tasks) <= self._max:
                        break
                    del self._tasks[old_id]

    def discard(self, task_id: str) -> None:
        with self._lock:
            self._tasks.pop(task_id, None)

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    def save(self, task: Task) -> None:
        return None

    def take(self, worker: str, timeout: float) -> Task | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def done(self, worker: str, task: Task) -> None:
        return None

    def give_back(self, worker: str, task: Task) -> None:
        task.finish("failed", "cancelled: the runtime is shutting down")

    def cancel_queued(self) -> list[Task]:
        cancelled: list[Task] = []
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                return cancelled
            if task is not None:
                task.finish("failed", "cancelled: the runtime is shutting down")
                cancelled.append(task)

    def wake(self, workers: int) -> None:
        for _ in range(workers):
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                return

    def recent(self, limit: int = 100) -> list[Task]:
        return self.page(limit, None)[0]

    def page(self, limit: int, cursor: int | None) -> tuple[list[Task], int | None]:
        with self._lock:
            tasks = list(self._tasks.values())
        newest = [t for t in reversed(tasks) if cursor is None or t.seq < cursor]
        chosen = newest[:limit]
        more = len(newest) > limit
        return chosen, (chosen[-1].seq if more and chosen else None)

    def counts(self) -> dict[str, int]:
        with self._lock:
            tasks = list(self._tasks.values())
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for task in tasks:
            counts[task.status] += 1
        return counts

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._tasks)


TaskStore = MemoryBackend
"""The in-memory backend under its earlier name."""
