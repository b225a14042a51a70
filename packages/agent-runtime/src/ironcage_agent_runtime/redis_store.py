"""Tasks and their queue in Redis, shared by every replica and surviving restarts.

Keys under ``prefix`` (default ``ironcage:agent-runtime:``):

- ``task:<id>``: the task as JSON; a finished task expires after ``ttl`` seconds;
- ``tasks``: sorted set of ids by creation sequence (``seq``), for pages newest first;
- ``queue``: list of queued ids; a worker moves one atomically (BLMOVE) into its own
  ``processing:<process>:<n>`` list while it runs it;
- ``alive:<process>``: refreshed while a runtime process lives. Any runtime moves the
  ``processing`` lists of a process whose key expired back onto the queue, so a task a
  killed replica was running runs again (at most ``MAX_ATTEMPTS`` times).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import uuid

from ironcage_agent_runtime._log import JsonLogger
from ironcage_agent_runtime.resp import Redis, RedisError
from ironcage_agent_runtime.store import QueueFullError
from ironcage_agent_runtime.tasks import Task

__all__ = ["MAX_ATTEMPTS", "RedisBackend"]

MAX_ATTEMPTS = 3
_HEARTBEAT_SECONDS = 5.0
_ALIVE_SECONDS = 20


class RedisBackend:
    """The shared backend; ``start()`` begins the heartbeat and recovery thread."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        max_queue: int = 1000,
        max_tasks: int = 100_000,
        ttl: int = 7 * 24 * 3600,
        prefix: str = "ironcage:agent-runtime:",
        logger: JsonLogger | None = None,
    ) -> None:
        self.redis = Redis(url)
        self.max_queue = max_queue
        self.max_tasks = max_tasks
        self.ttl = ttl
        self.prefix = prefix
        self.process = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._log = logger or JsonLogger()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def start(self) -> None:
        """Announce this process, recover abandoned tasks, keep doing both in the background."""
        self.beat()
        self._thread = threading.Thread(target=self._beat_forever, daemon=True)
        self._thread.start()

    def beat(self) -> None:
        self.redis("SET", self._key("alive", self.process), "1", "EX", _ALIVE_SECONDS)
        self.recover()

    def _beat_forever(self) -> None:
        while not self._stop.wait(_HEARTBEAT_SECONDS):
            try:
                self.beat()
            except RedisError as exc:
                self._log.warning("redis heartbeat failed", error=str(exc))

    def recover(self) -> int:
        """Queue again the tasks of runtime processes that are gone; how many moved."""
        moved = 0
        cursor = "0"
        pattern = self._key("processing", "*")
        while True:
            cursor, keys = self.redis("SCAN", cursor, "MATCH", pattern, "COUNT", 100)
            for key in keys:
                process = key[len(self._key("processing", "")) :].rsplit(":", 1)[0]
                if self.redis("EXISTS", self._key("alive", process)):
                    continue
                while task_id := self.redis("LMOVE", key, self._key("queue"), "RIGHT", "LEFT"):
                    moved += 1
                    self._requeued(task_id)
            if cursor == "0":
                return moved

    def _requeued(self, task_id: str) -> None:
        task = self.get(task_id)
        if task is None:
            return
        task.attempts += 1
        if task.attempts >= MAX_ATTEMPTS:
            self.redis("LREM", self._key("queue"), 1, task_id)
            task.finish("failed", f"the runtime running it stopped {task.attempts} times")
        else:
            task.status = "queued"
            task.results = []
            task.started_at = None
        self.save(task)
        self._log.warning("task recovered", task_id=task_id, attempts=task.attempts)

    def create(self, task: Task) -> None:
        if int(self.redis("LLEN", self._key("queue"))) >= self.max_queue:
            raise QueueFullError("task queue is full, retry later")
        task.seq = int(self.redis("INCR", self._key("seq")))
        record = json.dumps(task.to_record(), separators=(",", ":"))
        self.redis.transaction(
            ("SET", self._key("task", task.id), record),
            ("ZADD", self._key("tasks"), task.seq, task.id),
            ("LPUSH", self._key("queue"), task.id),
            ("ZREMRANGEBYRANK", self._key("tasks"), 0, -(self.max_tasks + 1)),
        )

    def get(self, task_id: str) -> Task | None:
        raw = self.redis("GET", self._key("task", task_id))
        return None if raw is None else Task.from_record(json.loads(raw))

    def save(self, task: Task) -> None:
        record = json.dumps(task.to_record(), separators=(",", ":"))
        if task.done:
            self.redis("SET", self._key("task", task.id), record, "EX", self.ttl)
        else:
            self.redis("SET", self._key("task", task.id), record)

    def take(self, worker: str, timeout: float) -> Task | None:
        mine = self._key("processing", self.process, worker)
        wait = max(1, round(timeout))
        task_id = self.redis(
            "BLMOVE", self._key("queue"), mine, "RIGHT", "LEFT", wait, timeout=wait + 5
        )
        if task_id is None:
            return None
        task = self.get(task_id)
        if task is None or task.done:  # expired, or finished by an earlier attempt
            self.redis("LREM", mine, 1, task_id)
            return None
        return task

    def done(self, worker: str, task: Task) -> None:
        self.redis("LREM", self._key("processing", self.process, worker), 1, task.id)

    def give_back(self, worker: str, task: Task) -> None:
        mine = self._key("processing", self.process, worker)
        self.redis.transaction(("LREM", mine, 1, task.id), ("RPUSH", self._key("queue"), task.id))

    def cancel_queued(self) -> list[Task]:
        return []

    def wake(self, workers: int) -> None:
        return None

    def page(self, limit: int, cursor: int | None) -> tuple[list[Task], int | None]:
        high = "+inf" if cursor is None else f"({cursor}"
        ids = self.redis(
            "ZREVRANGEBYSCORE", self._key("tasks"), high, "-inf", "LIMIT", 0, limit + 1
        )
        more = len(ids) > limit
        ids = ids[:limit]
        if not ids:
            return [], None
        records = self.redis("MGET", *(self._key("task", task_id) for task_id in ids))
        tasks = [Task.from_record(json.loads(raw)) for raw in records if raw is not None]
        gone = [task_id for task_id, raw in zip(ids, records, strict=True) if raw is None]
        if gone:
            self.redis("ZREM", self._key("tasks"), *gone)
        last = self.redis("ZSCORE", self._key("tasks"), ids[-1]) if more else None
        return tasks, (int(float(last)) if last is not None else None)

    def counts(self) -> dict[str, int]:
        running = 0
        cursor = "0"
        while True:
            cursor, keys = self.redis(
                "SCAN", cursor, "MATCH", self._key("processing", "*"), "COUNT", 100
            )
            running += sum(int(self.redis("LLEN", key)) for key in keys)
            if cursor == "0":
                return {"queued": self.queue_depth(), "running": running}

    def queue_depth(self) -> int:
        return int(self.redis("LLEN", self._key("queue")))

    def healthy(self) -> bool:
        return self.redis.ping()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        with contextlib.suppress(RedisError):
            self.redis("DEL", self._key("alive", self.process))
        self.redis.close()
