"""The build graph: order, the jobs bound, logs, and a failure that stops the rest."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from releasekit.build.artifacts import Outcome
from releasekit.build.board import Board
from releasekit.build.schedule import Job, Node, log_path, run_graph
from releasekit.core.errors import BuildError, PublishError
from releasekit.core.run import run


class _Seen:
    """What the nodes of one run did: start order and the most that ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.running = 0
        self.most = 0


def _node(
    seen: _Seen,
    key: str,
    needs: tuple[str, ...] = (),
    *,
    script: str = "pass",
    cost: float = 1.0,
    check: Callable[[Job], None] | None = None,
) -> Node:
    def work(job: Job) -> Outcome:
        with seen.lock:
            seen.started.append(key)
            seen.running += 1
            seen.most = max(seen.most, seen.running)
        try:
            if check is not None:
                check(job)
            job.say(f"{key} working")
            run([sys.executable, "-c", script], quiet=True)
        finally:
            with seen.lock:
                seen.running -= 1
        return Outcome(key, "built", ())

    return Node(key, work, needs, cost)


def _plain() -> tuple[list[str], Callable[[str], None]]:
    lines: list[str] = []
    return lines, lines.append


def test_needs_come_first_and_jobs_bound_the_pool(tmp_path: Path) -> None:
    seen = _Seen()

    def after(*keys: str) -> Callable[[Job], None]:
        def check(job: Job) -> None:
            assert set(keys) <= set(job.done), (job.key, sorted(job.done))

        return check

    wait = "import time; time.sleep(0.2)"
    nodes = [
        _node(seen, "a", script=wait),
        _node(seen, "b", ("a",), script=wait, check=after("a")),
        _node(seen, "c", script=wait),
        _node(seen, "d", ("b", "c"), check=after("a", "b", "c")),
        _node(seen, "e", script=wait),
    ]
    lines, say = _plain()
    done = run_graph(tmp_path, nodes, jobs=2, board=Board([n.key for n in nodes], progress=say))
    assert sorted(done) == ["a", "b", "c", "d", "e"]
    assert seen.most == 2
    assert set(seen.started[:2]) == {"a", "c"}
    assert {line.split()[0] for line in lines if " built in " in line} == set(done)
    for key in done:
        assert f"{key} working" in log_path(tmp_path, key).read_text()


def test_one_job_runs_one_node_at_a_time(tmp_path: Path) -> None:
    seen = _Seen()
    nodes = [_node(seen, k) for k in ("a", "b", "c")]
    run_graph(tmp_path, nodes, jobs=1, board=Board([n.key for n in nodes], progress=print))
    assert seen.most == 1


def test_longest_chain_starts_first(tmp_path: Path) -> None:
    seen = _Seen()
    nodes = [
        _node(seen, "small"),
        _node(seen, "big", cost=40),
        _node(seen, "first", cost=5),
        _node(seen, "second", ("first",), cost=15),
    ]
    run_graph(tmp_path, nodes, jobs=1, board=Board([n.key for n in nodes], progress=print))
    assert seen.started == ["big", "first", "second", "small"]


def test_failure_kills_running_commands_and_starts_nothing_new(tmp_path: Path) -> None:
    seen = _Seen()

    def fail(job: Job) -> None:
        job.say("about to fail")
        raise PublishError("The smoke test printed 'nope', expected 'ok'.")

    nodes = [
        _node(
            seen, "slow", script="import time; print('slow started', flush=True); time.sleep(60)"
        ),
        _node(seen, "broken", script="import time; time.sleep(0.3)"),
        _node(seen, "broken-2", ("broken",), check=fail),
        _node(seen, "after", ("broken-2",)),
    ]
    lines, say = _plain()
    with pytest.raises(BuildError, match=r"Building broken-2 failed") as info:
        run_graph(tmp_path, nodes, jobs=2, board=Board([n.key for n in nodes], progress=say))
    error = info.value
    assert error.exit_code == PublishError.exit_code
    assert error.log == "build/logs/broken-2.log"
    assert "about to fail" in str(error)
    assert "expected 'ok'" in str(error)
    assert "after" not in seen.started
    assert any(line.startswith("slow cancelled") for line in lines), lines
    assert any(line.startswith("broken-2 failed") for line in lines), lines
    slow = log_path(tmp_path, "slow").read_text()
    assert "cancelled: another artifact of the build failed" in slow
    assert "error: The smoke test printed" in log_path(tmp_path, "broken-2").read_text()


def test_plain_board_prints_one_line_per_change() -> None:
    lines, say = _plain()
    board = Board(["wheel:cli", "site:web"], progress=say)
    board.set("wheel:cli", "building")
    board.set("wheel:cli", "cached")
    board.set("site:web", "building")
    board.set("site:web", "failed", "log: build/logs/site-web.log")
    assert [line.split(" in ")[0] for line in lines] == [
        "wheel:cli up to date (cached)",
        "site:web failed",
    ]
    assert lines[1].endswith("(log: build/logs/site-web.log)")


def test_verbose_board_prints_log_lines() -> None:
    lines, say = _plain()
    board = Board(["wheel:cli"], progress=say, verbose=True)
    board.note("wheel:cli", "$ python -m build")
    assert lines == ["wheel:cli | $ python -m build"]
