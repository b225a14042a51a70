from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ironcage_sandbox import Result, SandboxError

from ironcage_agent_runtime import (
    Task,
    TaskSpec,
    TaskStore,
    ValidationError,
    __version__,
    execute_task,
)

# The version this package's pyproject.toml declares (the release writes both places).
VERSION = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
    "version"
]


def test_version() -> None:
    assert __version__ == VERSION


def test_spec_defaults() -> None:
    spec = TaskSpec.from_json({"steps": ["print(1)"]})
    assert spec == TaskSpec(("print(1)",), 30.0, 10.0, 256)


def test_spec_all_fields() -> None:
    data = {"steps": ["a", "b"], "budget_seconds": 3, "step_timeout_seconds": 1.5, "memory_mb": 64}
    assert TaskSpec.from_json(data) == TaskSpec(("a", "b"), 3.0, 1.5, 64)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([], "must be a JSON object"),
        ("steps", "must be a JSON object"),
        ({}, "steps is required"),
        ({"steps": []}, "non-empty list"),
        ({"steps": "print(1)"}, "non-empty list"),
        ({"steps": [1]}, r"steps\[0\] must be a non-empty string"),
        ({"steps": ["ok", "  "]}, r"steps\[1\] must be a non-empty string"),
        ({"steps": ["x"] * 101}, "too many steps"),
        ({"steps": ["x" * 100_001]}, "longer than"),
        ({"steps": ["x"], "budget_seconds": 0}, "budget_seconds must be > 0"),
        ({"steps": ["x"], "budget_seconds": -1}, "budget_seconds must be > 0"),
        ({"steps": ["x"], "budget_seconds": 1e9}, "budget_seconds must be > 0 and <= 3600"),
        ({"steps": ["x"], "budget_seconds": "10"}, "budget_seconds must be a number"),
        ({"steps": ["x"], "budget_seconds": True}, "budget_seconds must be a number"),
        ({"steps": ["x"], "step_timeout_seconds": None}, "step_timeout_seconds must be a number"),
        ({"steps": ["x"], "memory_mb": 1.5}, "memory_mb must be an integer"),
        ({"steps": ["x"], "memory_mb": 8}, "memory_mb must be between"),
        ({"steps": ["x"], "budget": 5}, "unknown field"),
    ],
)
def test_spec_validation(data: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        TaskSpec.from_json(data)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _result(stopped: str = "exited", exit_code: int | None = 0, duration: float = 0.1) -> Result:
    return Result(exit_code, "out", "", duration, stopped)  # type: ignore[arg-type]


class FakeRunner:
    """Returns queued results and advances the fake clock by each result's duration."""

    def __init__(self, clock: FakeClock, results: list[Result]) -> None:
        self.clock = clock
        self.results: Iterator[Result] = iter(results)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, code: str, **kwargs: Any) -> Result:
        self.calls.append({"code": code, **kwargs})
        result = next(self.results)
        self.clock.now += result.duration
        return result


def _run(spec: TaskSpec, results: list[Result]) -> tuple[Task, FakeRunner]:
    clock = FakeClock()
    runner = FakeRunner(clock, results)
    task = Task(spec=spec)
    execute_task(task, runner, clock=clock)
    return task, runner


def test_all_steps_ok_succeeds() -> None:
    spec = TaskSpec(("a", "b"), budget_seconds=10, step_timeout_seconds=4)
    task, runner = _run(spec, [_result(duration=1), _result(duration=1)])
    assert task.status == "succeeded"
    assert task.error is None
    assert task.wait(0)
    assert [call["timeout"] for call in runner.calls] == [4, 4]
    assert [call["cpu_seconds"] for call in runner.calls] == [4, 4]
    assert [step.index for step in task.results] == [0, 1]


def test_step_timeout_is_capped_by_remaining_budget() -> None:
    spec = TaskSpec(("a", "b", "c"), budget_seconds=5, step_timeout_seconds=3)
    task, runner = _run(spec, [_result(duration=2.5), _result(duration=2), _result(duration=0.1)])
    assert task.status == "succeeded"
    assert [call["timeout"] for call in runner.calls] == [3, 2.5, 0.5]
    assert [call["cpu_seconds"] for call in runner.calls] == [3, 3, 1]


def test_failed_step_stops_the_task() -> None:
    spec = TaskSpec(("a", "b", "c"))
    task, runner = _run(spec, [_result(), _result(exit_code=2)])
    assert task.status == "failed"
    assert task.error == "step 1 exited with code 2"
    assert len(runner.calls) == 2
    assert len(task.results) == 2


@pytest.mark.parametrize("stopped", ["memory", "output", "cpu", "timeout"])
def test_limit_stop_without_budget_pressure_is_a_failure(stopped: str) -> None:
    spec = TaskSpec(("a",), budget_seconds=10, step_timeout_seconds=2)
    task, _ = _run(spec, [_result(stopped, None, 2)])
    assert task.status == "failed"
    assert task.error == f"step 0 stopped: {stopped} limit"


def test_timeout_when_budget_limited_is_budget_exceeded() -> None:
    spec = TaskSpec(("a", "b"), budget_seconds=3, step_timeout_seconds=2)
    task, runner = _run(spec, [_result(duration=2), _result("timeout", None, 1)])
    assert task.status == "budget_exceeded"
    assert runner.calls[1]["timeout"] == 1
    assert task.error == "budget of 3s spent during step 1"


def test_budget_spent_before_next_step() -> None:
    spec = TaskSpec(("a", "b"), budget_seconds=1, step_timeout_seconds=5)
    task, runner = _run(spec, [_result(duration=1.2)])
    assert task.status == "budget_exceeded"
    assert len(runner.calls) == 1
    assert task.error == "budget of 1s spent before step 1"


def test_sandbox_error_fails_task() -> None:
    def broken(code: str, **kwargs: Any) -> Result:
        raise SandboxError("cannot start '/nope'")

    task = Task(spec=TaskSpec(("a",)))
    assert execute_task(task, broken) == "failed"
    assert task.error is not None and "sandbox error" in task.error


def test_task_to_dict_shape() -> None:
    task, _ = _run(TaskSpec(("a",)), [_result()])
    data = task.to_dict()
    assert data["status"] == "succeeded"
    assert data["steps"] == ["a"]
    results = data["results"]
    assert isinstance(results, list)
    assert results[0]["ok"] is True
    assert results[0]["stdout"] == "out"
    assert results[0]["timeout"] == 10
    for key in ("id", "created_at", "started_at", "finished_at", "elapsed_seconds", "error"):
        assert key in data


def test_finish_is_idempotent_and_checks_status() -> None:
    task = Task(spec=TaskSpec(("a",)))
    task.finish("failed", "first")
    task.finish("succeeded")
    assert task.status == "failed"
    with pytest.raises(ValueError, match="not a terminal status"):
        task.finish("running")


def test_store_counts_and_eviction() -> None:
    store = TaskStore(max_tasks=2)
    first, second, third = (Task(spec=TaskSpec(("a",))) for _ in range(3))
    first.finish("succeeded")
    for task in (first, second, third):
        store.add(task)
    assert store.get(first.id) is None
    assert store.get(third.id) is third
    assert len(store) == 2
    assert store.counts() == {
        "queued": 2,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "budget_exceeded": 0,
    }
    assert store.recent() == [third, second]
