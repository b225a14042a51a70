"""JSON-lines logging to stdout: one object per line with ts, level, msg and extra fields."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def utc_now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLogger:
    """Writes one JSON object per line; ``stream`` defaults to ``sys.stdout`` at write time."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        level: str = "info",
        logger: str = "ironcage-agent-runtime",
    ) -> None:
        if level not in _LEVELS:
            raise ValueError(f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}")
        self._stream = stream
        self._threshold = _LEVELS[level]
        self._logger = logger
        self._lock = threading.Lock()

    def log(self, level: str, msg: str, **fields: object) -> None:
        if _LEVELS.get(level, 40) < self._threshold:
            return
        record: dict[str, object] = {
            "ts": utc_now_iso(),
            "level": level,
            "msg": msg,
            "logger": self._logger,
        }
        record.update(fields)
        line = json.dumps(record, default=str, separators=(",", ":"))
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):  # closed stdout must never break request handling
                pass

    def debug(self, msg: str, **fields: object) -> None:
        self.log("debug", msg, **fields)

    def info(self, msg: str, **fields: object) -> None:
        self.log("info", msg, **fields)

    def warning(self, msg: str, **fields: object) -> None:
        self.log("warning", msg, **fields)

    def error(self, msg: str, **fields: object) -> None:
        self.log("error", msg, **fields)
