from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from releasekit.core.errors import LockError
from releasekit.release import state as pipeline
from releasekit.release.context import Context
from releasekit.release.pipeline import Options, execute
from releasekit.release.steps import Step


def test_lock_names_the_holder_and_is_free_after(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with pipeline.lock(path) as held:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with (
            pytest.raises(LockError, match=rf"pid {held.pid} on {held.host}, started"),
            pipeline.lock(path),
        ):
            pass
    with pipeline.lock(path) as again:
        assert again.pid == os.getpid()


def test_a_file_left_by_a_dead_process_is_no_lock(tmp_path: Path) -> None:
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


_HOLDER = """
import sys, time
from pathlib import Path
from releasekit.release import state as pipeline
from releasekit.release.context import Context
from releasekit.release.pipeline import Options, execute
from releasekit.release.steps import Step
with pipeline.lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_killed_holder_frees_the_lock_at_once(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockError, match=rf"pid {holder.pid} on "), pipeline.lock(path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with pipeline.lock(path) as held:
        assert held.pid == os.getpid()


class _Recorder(Step):
    """A step that records its call and writes its output to the context's ``notes``."""

    writes = ("notes",)

    def __init__(self, name: str, calls: list[str], fail_at: str | None, always: bool) -> None:
        self.name, self.summary, self.always = name, name, always
        self.calls, self.fail_at = calls, fail_at
        self.seen = ""

    def run(self, ctx: Context) -> str:
        self.calls.append(self.name)
        self.seen = ctx.notes
        if self.name == self.fail_at:
            raise RuntimeError(f"{self.name} failed")
        ctx.notes = f"{self.name}_out={len(self.calls)}"
        return self.name


def _steps(calls: list[str], fail_at: str | None = None) -> list[Step]:
    names = [("check", True), ("build", False), ("publish", False), ("tag", False)]
    return [_Recorder(name, calls, fail_at, always) for name, always in names]


def _context(root: Path) -> Context:
    from releasekit.core import manifest, workspace

    return Context(ws=workspace.load(manifest.load(root)), opts=Options())


def test_execute_records_and_resumes(make_repo) -> None:
    root = make_repo()
    state = pipeline.State(root / "state.json", version="1.0.0")
    calls: list[str] = []
    with pytest.raises(RuntimeError, match="publish failed"):
        execute(
            _steps(calls, fail_at="publish"), state, _context(root), lambda *a: None,
            lambda *a: None,
        )  # fmt: skip
    assert calls == ["check", "build", "publish"]
    saved = pipeline.State.load(root / "state.json")
    assert saved is not None and saved.done("build") and not saved.done("publish")

    resumed: list[str] = []
    again = _steps(resumed)
    execute(again, saved, _context(root), lambda *a: None, lambda *a: None)
    assert resumed == ["check", "publish", "tag"]
    publish = again[2]
    assert isinstance(publish, _Recorder) and publish.seen == "build_out=2"


def test_a_skipped_step_is_recorded_with_its_reason(make_repo) -> None:
    class Nothing(Step):
        name, summary = "deploy", "deploy"

        def skip(self, ctx: Context) -> str | None:
            return "nothing to deploy"

        def run(self, ctx: Context) -> str:
            raise AssertionError("a skipped step does not run")

    root = make_repo()
    state = pipeline.State(root / "state.json", version="1.0.0")
    execute([Nothing()], state, _context(root), lambda *a: None, lambda *a: None)
    assert state.steps["deploy"]["outputs"] == {"summary": "nothing to deploy"}


def test_state_file_is_redacted(tmp_path: Path) -> None:
    from releasekit.core.run import register_secret

    register_secret("canary-state-secret")
    state = pipeline.State(
        tmp_path / "state.json", version="1.0.0", data={"note": "x canary-state-secret y"}
    )
    state.save()
    assert "canary-state-secret" not in (tmp_path / "state.json").read_text()


def test_a_switch_in_a_secret_looking_variable_keeps_the_state_valid(tmp_path: Path) -> None:
    from releasekit.core.run import secrets_from_env

    secrets_from_env({"FEATURE_TOKEN": "true", "OTHER_SECRET": "canary-value-91"})
    state = pipeline.State(
        tmp_path / "state.json",
        version="1.0.0",
        data={"complete": True, "note": "uses canary-value-91", "flag": False},
    )
    state.save()
    loaded = json.loads((tmp_path / "state.json").read_text())
    assert loaded["complete"] is True and loaded["flag"] is False
    assert loaded["note"] == "uses ***"


def test_execute_stops_after_the_step_asked_and_resumes_from_there(make_repo) -> None:
    from releasekit.core import manifest, workspace

    root = make_repo()
    state = pipeline.State(root / "state.json", version="1.0.0")
    calls: list[str] = []
    ws = workspace.load(manifest.load(root))
    stopping = Context(ws=ws, opts=Options(stop_after="build"))
    execute(_steps(calls), state, stopping, lambda *a: None, lambda *a: None)
    assert calls == ["check", "build"]
    saved = pipeline.State.load(root / "state.json")
    assert saved is not None and saved.done("build") and not saved.done("publish")
    assert not saved.complete

    resumed: list[str] = []
    execute(_steps(resumed), saved, _context(root), lambda *a: None, lambda *a: None)
    assert resumed == ["check", "publish", "tag"]


@pytest.mark.parametrize(
    ("stop_after", "publishing"),
    [(None, True), ("verify", False), ("build", False), ("preflight", False)],
)
def test_only_a_release_that_stops_before_its_tag_reads_no_credentials(
    stop_after: str | None, publishing: bool
) -> None:
    assert Options(stop_after=stop_after).publishing is publishing


def test_a_release_does_not_stop_after_publishing_began(make_repo) -> None:
    from releasekit.core import manifest, workspace
    from releasekit.core.errors import ReleaseError
    from releasekit.release.pipeline import run

    ws = workspace.load(manifest.load(make_repo()))
    with pytest.raises(ReleaseError, match=r"--stop-after tag: .* after one of preflight"):
        run(ws, Options(stop_after="tag"), confirm=None, on_start=print, on_end=print)
