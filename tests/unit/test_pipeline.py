from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from releasekit import pipeline
from releasekit.errors import LockError


def test_lock_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with pipeline.lock(path) as held:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with (
            pytest.raises(LockError, match=rf"pid {held.pid} on {held.host}, started"),
            pipeline.lock(path),
        ):
            pass
    assert not path.exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    path = tmp_path / "lock"
    path.write_text(
        json.dumps(
            {
                "pid": int(dead.stdout),
                "host": socket.gethostname(),
                "started_at": "2026-01-01T00:00:00Z",
            }
        )
    )
    with pipeline.lock(path) as held:
        assert held.pid == os.getpid()


def test_lock_of_another_host_is_respected(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_text(json.dumps({"pid": 1, "host": "build-7", "started_at": "2026-01-01T00:00:00Z"}))
    with (
        pytest.raises(LockError, match=r"pid 1 on build-7, started 2026-01-01T00:00:00Z"),
        pipeline.lock(path),
    ):
        pass


def _steps(calls: list[str], fail_at: str | None = None) -> list[pipeline.Step]:
    def make(name: str, always: bool = False) -> pipeline.Step:
        def fn(ctx: dict[str, Any]) -> dict[str, Any]:
            calls.append(name)
            if name == fail_at:
                raise RuntimeError(f"{name} failed")
            return {f"{name}_out": ctx.get("seed", 0) + len(calls)}

        return pipeline.Step(name, name, fn, always=always)

    return [make("check", always=True), make("build"), make("publish"), make("tag")]


def test_execute_records_and_resumes(tmp_path: Path) -> None:
    state = pipeline.State(tmp_path / "state.json", version="1.0.0")
    calls: list[str] = []
    with pytest.raises(RuntimeError, match="publish failed"):
        pipeline.execute(
            _steps(calls, fail_at="publish"), state, {}, lambda *a: None, lambda *a: None
        )
    assert calls == ["check", "build", "publish"]
    saved = pipeline.State.load(tmp_path / "state.json")
    assert saved is not None and saved.done("build") and not saved.done("publish")

    resumed: list[str] = []
    context: dict[str, Any] = {}
    pipeline.execute(_steps(resumed), saved, context, lambda *a: None, lambda *a: None)
    assert resumed == ["check", "publish", "tag"]
    assert context["build_out"] == 2


def test_state_file_is_redacted(tmp_path: Path) -> None:
    from releasekit.run import register_secret

    register_secret("canary-state-secret")
    state = pipeline.State(
        tmp_path / "state.json", version="1.0.0", data={"note": "x canary-state-secret y"}
    )
    state.save()
    assert "canary-state-secret" not in (tmp_path / "state.json").read_text()
