"""Run the artifacts of a build as a graph: each starts once what it needs is done.

A ``Node`` is one artifact (a package's Python dists, the binary, a site tarball, an image
with its smoke test) and the keys of the nodes it needs. ``run_graph`` runs them on a pool
of ``jobs`` threads (the work is subprocesses and docker API calls), starting the ready node
that the most other nodes wait on first. Each node's log is ``build/logs/<key>.log``: every
line it reports and every command it runs, with that command's output.

When a node fails, no new node starts; running nodes are told to stop (a command they run
is killed, a docker build stops at its next line) or finish, and ``BuildError`` names the
failed artifact with the tail of its log.
"""

from __future__ import annotations

import graphlib
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from releasekit.build.artifacts import Outcome, Progress
from releasekit.build.board import Board, State
from releasekit.core.errors import BuildError, Cancelled, ReleaseError
from releasekit.core.run import captured, redact

__all__ = ["LOG_DIR", "Job", "Node", "log_path", "run_graph"]

LOG_DIR = Path("build/logs")
_TAIL = 15
_TICK = 1.0
_LONGEST = 2000


@dataclass(frozen=True)
class Job:
    """What a node's work receives: its key, a reporter and the outcomes finished so far."""

    key: str
    say: Progress
    done: Mapping[str, Outcome]


@dataclass(frozen=True)
class Node:
    """One artifact of the graph: its key, the keys it needs, and the work that builds it."""

    key: str
    work: Callable[[Job], Outcome] = field(compare=False)
    needs: tuple[str, ...] = ()
    cost: float = 1.0
    """A rough guess of the seconds a cold build takes: the longest chain starts first."""


def log_path(root: Path, key: str) -> Path:
    """``build/logs/<key>.log`` with the key's ``:`` as ``-`` (``image-agent-runtime.log``)."""
    return root / LOG_DIR / f"{key.replace(':', '-').replace('/', '-')}.log"


def _shown(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _tail(path: Path, lines: int = _TAIL) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _weights(nodes: Sequence[Node]) -> dict[str, float]:
    """The cost of the longest chain from each node to the end of the graph (itself included)."""
    dependents: dict[str, list[str]] = {n.key: [] for n in nodes}
    for node in nodes:
        for need in node.needs:
            dependents[need].append(node.key)
    cost = {n.key: n.cost for n in nodes}
    found: dict[str, float] = {}

    def chain(key: str) -> float:
        if key not in found:
            found[key] = cost[key] + max((chain(d) for d in dependents[key]), default=0.0)
        return found[key]

    for node in nodes:
        chain(node.key)
    return found


class _Run:
    """The state of one run of the graph (see ``run_graph``)."""

    def __init__(self, root: Path, nodes: Sequence[Node], board: Board) -> None:
        self.root = root
        self.nodes = {n.key: n for n in nodes}
        self.order = {n.key: i for i, n in enumerate(nodes)}
        self.board = board
        self.cancel = threading.Event()
        self.done: dict[str, Outcome] = {}
        self.tails: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.lock = threading.Lock()

    def work(self, key: str) -> Outcome:
        node = self.nodes[key]
        path = log_path(self.root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with path.open("w", encoding="utf-8") as log:
            say = self._reporter(key, log)
            with self.lock:
                done = dict(self.done)
            self.board.set(key, "building")
            try:
                with captured(say, self.cancel):
                    outcome = node.work(Job(key, say, done))
            except Cancelled:
                log.write("cancelled: another artifact of the build failed\n")
                raise
            except ReleaseError as exc:
                self.tails[key] = _tail(path)
                log.write(f"error: {redact(str(exc))}\n")
                raise
            except Exception:
                self.tails[key] = _tail(path)
                log.write(redact(traceback.format_exc()))
                raise
        with self.lock:
            self.done[key] = outcome
            self.seconds[key] = time.monotonic() - started
        return outcome

    def _reporter(self, key: str, log: IO[str]) -> Progress:
        prefix = f"{key} "

        def say(message: str) -> None:
            line = redact(message)
            if len(line) > _LONGEST:
                line = f"{line[:_LONGEST]} ... ({len(line)} characters)"
            log.write(line + "\n")
            log.flush()
            self.board.note(key, line.removeprefix(prefix))

        return say


def _state(outcome: Outcome) -> State:
    if outcome.status != "up to date":
        return "done"
    return "cached (registry)" if outcome.cached_from == "registry" else "cached"


def run_graph(
    root: Path,
    nodes: Sequence[Node],
    *,
    jobs: int,
    board: Board,
    seconds: dict[str, float] | None = None,
) -> dict[str, Outcome]:
    """Run ``nodes`` (at most ``jobs`` at a time); their outcomes by key, or BuildError.

    ``seconds`` (when given) receives the wall time of each node that finished.
    """
    graph = graphlib.TopologicalSorter({n.key: n.needs for n in nodes})
    graph.prepare()
    run = _Run(root, nodes, board)
    weights = _weights(nodes)
    ready: list[str] = []
    running: dict[Future[Outcome], str] = {}
    failure: tuple[str, BaseException] | None = None
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="build") as pool:
        try:
            while graph.is_active() or running:
                if failure is None:
                    ready += graph.get_ready()
                    ready.sort(key=lambda k: (-weights[k], run.order[k]))
                    while ready and len(running) < max(1, jobs):
                        key = ready.pop(0)
                        running[pool.submit(run.work, key)] = key
                if not running:
                    break
                finished, _ = wait(running, timeout=_TICK, return_when=FIRST_COMPLETED)
                board.tick()
                for future in finished:
                    key = running.pop(future)
                    error = future.exception()
                    if error is None:
                        outcome = future.result()
                        board.set(key, _state(outcome))
                        graph.done(key)
                    elif isinstance(error, Cancelled) and failure is not None:
                        board.set(key, "cancelled")
                    else:
                        board.set(key, "failed", f"log: {_shown(root, log_path(root, key))}")
                        if failure is None:
                            failure = (key, error)
                            run.cancel.set()
        except BaseException:
            # Interrupted (Ctrl-C): stop the running commands before the pool waits for them.
            run.cancel.set()
            raise
    if seconds is not None:
        seconds.update(run.seconds)
    if failure is not None:
        key, error = failure
        path = log_path(root, key)
        tail = redact(run.tails.get(key, ""))
        raise BuildError(key, error, _shown(root, path), tail) from error
    return run.done
