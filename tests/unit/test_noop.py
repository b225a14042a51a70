"""The no-op build's stamp: valid while nothing it fingerprints changes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from releasekit.build import noop


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def stamped(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "packages").mkdir(parents=True)
    (root / "packages" / "a.py").write_text("print('a')\n")
    (root / ".gitignore").write_text("/dist/\n/build/\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "-c", "user.email=t@e", "-c", "user.name=t", "add", "-A")
    _git(root, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "init")
    out = root / "dist" / "1.0.0" / "a.whl"
    out.parent.mkdir(parents=True)
    out.write_bytes(b"wheel")
    record = root / "build" / "images" / "api.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"digest": "sha256:1"}\n')
    taken = noop.fingerprint(root)
    row = {"artifact": "wheel:a", "status": "built", "path": "dist/1.0.0/a.whl", "size": 5}
    noop.write(root, "1.0.0", taken, [row])
    return root


def test_an_unchanged_workspace_is_a_no_op(stamped: Path) -> None:
    found = noop.check(stamped)
    assert found is not None
    version, rows = found
    assert version == "1.0.0"
    assert rows == [
        {"artifact": "wheel:a", "status": "up to date", "path": "dist/1.0.0/a.whl", "size": 5}
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "packages" / "a.py").write_text("print('b')\n"),
        lambda root: (root / "packages" / "new.py").write_text(""),
        lambda root: (root / "dist" / "1.0.0" / "a.whl").write_bytes(b"other"),
        lambda root: (root / "dist" / "1.0.0" / "a.whl").unlink(),
        lambda root: os.utime(root / "dist" / "1.0.0" / "a.whl", ns=(1, 1)),
        lambda root: (root / "build" / "images" / "api.json").write_text('{"digest": "2"}\n'),
        lambda root: (root / "build" / "images" / "web.json").write_text("{}\n"),
        lambda root: (root / "build" / "images" / "api.json").unlink(),
    ],
    ids=[
        "source edited",
        "file added",
        "output changed",
        "output gone",
        "output touched",
        "image rebuilt",
        "image recorded",
        "image record gone",
    ],
)
def test_any_change_falls_through_to_the_build(stamped: Path, change: object) -> None:
    assert callable(change)
    change(stamped)
    assert noop.check(stamped) is None


def test_the_steering_variables_count(stamped: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDKIT_HOST", "tcp://builder:1234")
    assert noop.check(stamped) is None
    noop.forget(stamped)
    monkeypatch.delenv("BUILDKIT_HOST")
    assert noop.check(stamped) is None
