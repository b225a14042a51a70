"""The release's state file (for resume), its lock, and the fault points of the resume tests.

Each finished step is recorded in the state file with its outputs before the next starts,
so a release killed at any point resumes where it stopped (`--resume`). The lock file
is a kernel lock held for the whole release and freed when its process dies; it names the
pid, host and start time of its holder, and a second release fails at once naming them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from releasekit.core.errors import LockError, ReleaseError
from releasekit.core.files import write_json

__all__ = ["FAULT_ENV", "PREVIOUS", "Lock", "State", "fault_point", "lock"]

PREVIOUS = "previous"
"""Key of the state under which a new release keeps the record of the finished one it
replaces, so that an aborted release puts it back."""

FAULT_ENV = "RELEASEKIT_FAULT"
"""Fault injection for resume tests: `kill-after:STEP` kills the release right after STEP
is recorded; `kill-at:POINT` kills it at a named point inside a step; `hold-at:POINT` makes
it wait there to be killed from outside; `stop-at:POINT` stops it there (SIGSTOP) until it
is continued from outside (SIGCONT)."""


@dataclass
class State:
    """What a release has done so far; saved after every step."""

    path: Path
    version: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> State | None:
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise ReleaseError(
                f"The release state file {path} is not valid JSON. Inspect it; remove it only "
                "if no release is half done."
            ) from None
        return cls(path=path, version=str(data.get("version", "")), data=data)

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        steps: dict[str, dict[str, Any]] = self.data.setdefault("steps", {})
        return steps

    def done(self, step: str) -> bool:
        return self.steps.get(step, {}).get("status") == "done"

    @property
    def complete(self) -> bool:
        return bool(self.data.get("complete"))

    def record(self, step: str, outputs: dict[str, Any], started: float) -> None:
        self.steps[step] = {
            "status": "done",
            "seconds": round(time.monotonic() - started, 3),
            "finished_at": _now(),
            "outputs": outputs,
        }
        self.save()

    def save(self) -> None:
        self.data["version"] = self.version
        write_json(self.path, self.data)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Lock:
    """Who holds the release lock."""

    pid: int
    host: str
    started_at: str


@contextlib.contextmanager
def lock(path: Path) -> Iterator[Lock]:
    """Hold the release lock at ``path`` (a kernel ``flock``) for the duration of the block.

    The kernel releases the lock when the holder dies, however it dies, so a killed
    release never leaves a stale lock behind. The file names the holder for the error
    a second release shows.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        try:
            holder: Lock | None = Lock(**json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError, OSError):
            holder = None
        who = (
            f"pid {holder.pid} on {holder.host}, started {holder.started_at}"
            if holder is not None
            else "a process that is starting up"
        )
        raise LockError(
            f"Another release is running: {who} (lock file {path}). Wait for it to finish; "
            "the lock is freed the moment that process ends."
        ) from None
    me = Lock(os.getpid(), socket.gethostname(), _now())
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me.__dict__).encode(), 0)
    try:
        yield me
    finally:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def fault_point(name: str) -> None:
    """Die here, as a crash would, when the fault injection variable names this point.

    ``hold-at:NAME`` instead waits there (up to ten minutes) holding everything it holds,
    the release lock included, for a test to kill it from outside; ``stop-at:NAME`` stops
    the process there until a test continues it, having changed the world meanwhile.
    """
    fault = os.environ.get(FAULT_ENV, "")
    if fault == f"kill-at:{name}":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == f"hold-at:{name}":
        time.sleep(600)
    if fault == f"stop-at:{name}":
        os.kill(os.getpid(), signal.SIGSTOP)
