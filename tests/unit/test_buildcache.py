from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from releasekit.build import cache as buildcache
from releasekit.build.cache import Cache, inputs_hash
from releasekit.core import manifest, workspace


def load(root: Path) -> workspace.Workspace:
    return workspace.load(manifest.load(root))


@pytest.fixture
def root(make_repo: Callable[..., Path]) -> Path:
    return make_repo()


def _append(path: Path, text: str = "\n# changed\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((path.read_text() if path.exists() else "") + text, encoding="utf-8")


@pytest.mark.parametrize(
    ("changed", "package", "changes"),
    [
        ("packages/app/src/demo_app/__init__.py", "app", True),
        ("packages/core/src/demo_core/__init__.py", "app", True),
        ("docker/app.Dockerfile", "app", True),
        ("packages/app/new_untracked.txt", "app", True),
        ("packages/tool/src/demo_tool/__init__.py", "app", False),
        ("packages/site/README.md", "app", False),
        ("README.md", "app", False),
        ("packages/app/src/demo_app/__init__.py", "core", False),
        ("packages/app/src/demo_app/__pycache__/x.cpython-311.pyc", "app", False),
        ("packages/app/build/lib/out.txt", "app", False),
    ],
)
def test_inputs_hash_tracks_package_and_dependencies(
    root: Path, changed: str, package: str, changes: bool
) -> None:
    (root / ".gitignore").write_text("__pycache__/\nbuild/\n", encoding="utf-8")
    ws = load(root)
    before = inputs_hash(ws, package)
    _append(root / changed)
    assert (inputs_hash(load(root), package) != before) is changes


def test_inputs_hash_is_stable_and_per_package(root: Path) -> None:
    ws = load(root)
    assert inputs_hash(ws, "app") == inputs_hash(ws, "app")
    assert inputs_hash(ws, "app") != inputs_hash(ws, "tool")


def test_inputs_hash_extra_files_and_values(root: Path, tmp_path: Path) -> None:
    ws = load(root)
    extra_file = tmp_path / "base.txt"
    extra_file.write_text("one", encoding="utf-8")
    plain = inputs_hash(ws, "app")
    with_file = inputs_hash(ws, "app", extra_files=[extra_file])
    assert with_file != plain
    extra_file.write_text("two", encoding="utf-8")
    assert inputs_hash(ws, "app", extra_files=[extra_file]) != with_file
    assert inputs_hash(ws, "app", extra={"base": "sha256:1"}) != inputs_hash(
        ws, "app", extra={"base": "sha256:2"}
    )


def test_deleted_tracked_file_changes_hash(root: Path) -> None:
    ws = load(root)
    before = inputs_hash(ws, "core")
    (root / "packages/core/src/demo_core/__init__.py").unlink()
    assert inputs_hash(ws, "core") != before


def _output(root: Path, name: str = "dist/out.whl", data: bytes = b"wheel") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_record_then_fresh(root: Path) -> None:
    cache = Cache(root)
    out = _output(root)
    entry = cache.record("wheel:app", "abc", [out])
    assert entry.outputs == ("dist/out.whl",)
    assert entry.digests == {"dist/out.whl": buildcache.file_sha256(out)}
    assert Cache(root).fresh("wheel:app", "abc") == entry
    assert (root / "build/cache/artifacts.json").is_file()


@pytest.mark.parametrize("change", ["inputs", "deleted", "modified", "unknown-key"])
def test_stale_entries(root: Path, change: str) -> None:
    cache = Cache(root)
    out = _output(root)
    cache.record("wheel:app", "abc", [out])
    key, inputs = "wheel:app", "abc"
    if change == "inputs":
        inputs = "def"
    elif change == "deleted":
        out.unlink()
    elif change == "modified":
        out.write_bytes(b"other")
    else:
        key = "wheel:core"
    assert cache.fresh(key, inputs) is None


def test_record_keeps_other_keys_and_forget(root: Path) -> None:
    cache = Cache(root)
    a = _output(root, "dist/a", b"a")
    b = _output(root, "dist/b", b"b")
    cache.record("wheel:a", "1", [a])
    cache.record("wheel:b", "2", [b])
    assert cache.fresh("wheel:a", "1") is not None
    cache.forget("wheel:a")
    assert cache.fresh("wheel:a", "1") is None
    assert cache.fresh("wheel:b", "2") is not None


def test_corrupt_cache_file_is_empty(root: Path) -> None:
    path = root / "build/cache/artifacts.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    assert Cache(root).fresh("wheel:a", "1") is None
    Cache(root).record("wheel:a", "1", [_output(root)])
    assert Cache(root).fresh("wheel:a", "1") is not None
