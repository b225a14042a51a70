"""`invoke build.clean`: scratch folders, and with --all every local cache and BuildKit state."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from releasekit.build.clean import clean


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    for rel in ("build/logs", "build/python/1.0.0", "build/cache", "build/wheelhouse/x", "dist/1"):
        (ws / rel).mkdir(parents=True)
        (ws / rel / "file").write_text("x")
    (ws / "packages").mkdir()
    return ws


def test_clean_keeps_the_caches(root: Path) -> None:
    removed = clean(root)
    assert removed == ["build/python/", "build/logs/"]
    assert (root / "build" / "cache" / "file").is_file()
    assert (root / "dist" / "1" / "file").is_file()


def test_clean_all_stops_the_daemon_and_empties_every_cache(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "buildkit"
    state.mkdir()
    # A daemon started by an earlier process: not a child of this one.
    started = subprocess.run(
        ["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True
    )
    pid = int(started.stdout)
    try:
        (state / "daemon.json").write_text(json.dumps({"pid": pid}))
        monkeypatch.setenv("RELEASEKIT_BUILDKIT_STATE", str(state))
        removed = clean(root, every=True)
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert f"buildkitd (pid {pid})" in removed
    assert not state.exists()
    assert sorted(p.name for p in root.iterdir()) == ["build", "packages"]
    assert list((root / "build").iterdir()) == []


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
