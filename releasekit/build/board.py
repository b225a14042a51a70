"""The build's console: one line per artifact, its state and the seconds it has taken.

On a terminal (stderr) the lines are redrawn in place with ``rich.live``; elsewhere (CI
logs, a pipe) each state change prints one plain line, through ``progress`` when given.
States: waiting, building, cached (found in the local cache), cached (registry) (fetched
from the shared cache), done, failed, and cancelled (stopped because another artifact
failed). With ``verbose`` every line of every artifact's log is printed too,
prefixed with the artifact's key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from rich.console import Console, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from releasekit.build.artifacts import Progress

__all__ = ["Board", "State", "Timing"]

State = Literal["waiting", "building", "cached", "cached (registry)", "done", "failed", "cancelled"]
_STYLES: dict[State, str] = {
    "waiting": "dim",
    "building": "yellow",
    "cached": "cyan",
    "cached (registry)": "blue",
    "done": "green",
    "failed": "bold red",
    "cancelled": "magenta",
}
_MARKS: dict[State, str] = {
    "waiting": "·",
    "building": "…",
    "cached": "=",
    "cached (registry)": "⇣",
    "done": "✓",
    "failed": "✗",
    "cancelled": "-",
}
# What a plain line says for each state; "up to date" is the word the tables use.
_PLAIN: dict[State, str] = {
    "waiting": "waiting",
    "building": "building",
    "cached": "up to date (cached)",
    "cached (registry)": "up to date: cached (registry)",
    "done": "built",
    "failed": "failed",
    "cancelled": "cancelled",
}


_ANNOUNCE = 1.0
_SHORT = 80


def _short(text: str) -> str:
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + "..."


@dataclass
class _Line:
    state: State = "waiting"
    started: float | None = None
    ended: float | None = None
    detail: str = ""
    announced: bool = False

    def seconds(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.ended if self.ended is not None else now) - self.started


@dataclass(frozen=True)
class Timing:
    """When an artifact of the build started and ended, in seconds since the build began."""

    key: str
    state: State
    started: float | None
    ended: float | None

    def to_json(self) -> dict[str, object]:
        return {"key": self.key, "state": self.state, "started": self.started, "ended": self.ended}


class Board:
    """The live (or plain) view of the artifacts ``keys`` of one build."""

    def __init__(
        self,
        keys: Sequence[str],
        *,
        progress: Progress | None = None,
        verbose: bool = False,
        console: Console | None = None,
    ) -> None:
        self._lines = {key: _Line() for key in keys}
        self._began = time.monotonic()
        self._lock = threading.Lock()
        self._verbose = verbose
        self._console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self._plain = progress or self._print
        self._live: Live | None = None

    @property
    def live(self) -> bool:
        """Whether the lines are redrawn in place (stderr is a terminal)."""
        return self._console.is_terminal

    def _print(self, message: str) -> None:
        self._console.print(escape(message), highlight=False)

    @contextmanager
    def shown(self) -> Iterator[Board]:
        """Show the board while the block runs (live on a terminal)."""
        if not self.live:
            yield self
            return
        with Live(self, console=self._console, refresh_per_second=4, transient=False) as live:
            self._live = live
            try:
                yield self
            finally:
                live.refresh()
                self._live = None

    def set(self, key: str, state: State, detail: str = "") -> None:
        """Move ``key`` to ``state``; a plain line says so when not live."""
        now = time.monotonic()
        with self._lock:
            line = self._lines[key]
            if state == "building" and line.started is None:
                line.started = now
            if state in ("cached", "cached (registry)", "done", "failed", "cancelled"):
                line.started = now if line.started is None else line.started
                line.ended = now
            line.state = state
            if detail:
                line.detail = detail
            seconds = line.seconds(now)
        if not self.live and state != "building":
            took = f" in {seconds:.1f} s" if seconds is not None else ""
            extra = f" ({detail})" if detail else ""
            self._plain(f"{key} {_PLAIN[state]}{took}{extra}")

    def timings(self) -> list[Timing]:
        """Each artifact's state and times (seconds since the board was made), in key order."""

        def since(moment: float | None) -> float | None:
            return None if moment is None else round(moment - self._began, 3)

        with self._lock:
            return [
                Timing(key, line.state, since(line.started), since(line.ended))
                for key, line in self._lines.items()
            ]

    def tick(self) -> None:
        """Say (plain lines only) which artifacts have been building for a second or more.

        An artifact found up to date at once gets one line, not two.
        """
        if self.live:
            return
        now = time.monotonic()
        with self._lock:
            due = [
                key
                for key, line in self._lines.items()
                if line.state == "building"
                and not line.announced
                and line.started is not None
                and now - line.started >= _ANNOUNCE
            ]
            for key in due:
                self._lines[key].announced = True
            doing = {key: _short(self._lines[key].detail.removeprefix(f"{key} ")) for key in due}
        for key in due:
            self._plain(f"{key} {_PLAIN['building']}" + (f": {doing[key]}" if doing[key] else ""))

    def note(self, key: str, message: str) -> None:
        """A line of ``key``'s log: the live line shows the latest, ``verbose`` prints all."""
        with self._lock:
            self._lines[key].detail = message
        if self._verbose:
            if self._live is not None:
                self._live.console.print(f"[dim]{escape(key)}[/] {escape(message)}")
            else:
                self._plain(f"{key} | {message}")

    def __rich__(self) -> RenderableType:
        now = time.monotonic()
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True, min_width=1)
        grid.add_column(no_wrap=True, min_width=max(map(len, self._lines), default=1))
        grid.add_column(no_wrap=True, min_width=9)
        grid.add_column(no_wrap=True, justify="right", min_width=7)
        grid.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        with self._lock:
            rows = [
                (key, line.state, line.seconds(now), line.detail)
                for key, line in self._lines.items()
            ]
        for key, state, seconds, detail in rows:
            style = _STYLES[state]
            shown = "" if seconds is None else f"{seconds:.1f}s"
            grid.add_row(
                Text(_MARKS[state], style=style),
                Text(key, style="bold"),
                Text(state, style=style),
                Text(shown, style="dim"),
                Text(detail if state in ("building", "failed") else "", style="dim"),
            )
        return grid
