"""The input-hash build cache: skip an artifact whose inputs have not changed.

An artifact's *inputs hash* covers every file of its package (the package folder and the
extra ``paths`` of its manifest entry) and of every internal package it depends on,
directly or not, plus any extra files and key/values the caller names (a Dockerfile, a base
image id), plus the toolkit's own version and source and the installed versions of the
tools that shape artifact bytes (``uvlock.TOOLCHAIN``: hatchling, uv, PyInstaller,
cyclonedx-python-lib, twine, build). Files are listed with
``git ls-files -co --exclude-standard``, so ignored files (build outputs, ``__pycache__``)
never count, while tracked and new untracked files do.

The cache itself is one JSON file, ``build/cache/artifacts.json``, mapping a key such as
``wheel:sandbox`` or ``image:agent-runtime`` to the inputs hash it was built from and the
sha256 of each output. An entry is fresh only while the inputs match and every output
still exists with the recorded digest.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import releasekit
from releasekit.build.toolkit import toolkit_hash
from releasekit.core import files, uvlock
from releasekit.core.errors import ManifestError
from releasekit.core.files import file_sha256
from releasekit.core.run import run
from releasekit.core.workspace import Workspace

__all__ = [
    "CACHE_FILE",
    "Cache",
    "Entry",
    "check_toolchain",
    "file_sha256",
    "inputs_hash",
    "toolchain",
    "toolkit_hash",
]

CACHE_FILE = Path("build/cache/artifacts.json")
_FORMAT = 1
_CHUNK = 1 << 20


def _listed(root: Path, prefixes: Sequence[str]) -> list[str]:
    """Tracked plus untracked-not-ignored files under ``prefixes`` (repo-relative, sorted)."""
    if not prefixes:
        return []
    out = run(
        ["git", "-C", str(root), "ls-files", "-co", "--exclude-standard", "-z", "--", *prefixes],
        mutates=False,
        quiet=True,
        hint=f"The build cache lists package files with git; is {root} a git work tree?",
    ).stdout
    return sorted({p for p in out.split("\0") if p})


@functools.cache
def toolchain() -> dict[str, str]:
    """The installed version of each artifact-shaping tool (uv.lock pins them all)."""
    found = {}
    for name in uvlock.TOOLCHAIN:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def check_toolchain(root: Path) -> None:
    """ManifestError when an installed artifact-shaping tool is not the version uv.lock pins.

    A workspace without uv.lock has nothing to check against.
    """
    if not (root / uvlock.LOCK_FILE).is_file():
        return
    pinned = uvlock.toolchain(root)
    wrong = [
        f"{name} {installed} (uv.lock: {pinned[name] or 'not locked'})"
        for name, installed in toolchain().items()
        if installed not in pinned[name].split(", ")
    ]
    if wrong:
        raise ManifestError(
            f"The toolkit's environment ({sys.prefix}) does not hold the tools "
            f"{root / uvlock.LOCK_FILE} pins: {'; '.join(wrong)}. Artifacts built with them "
            "would differ from every other machine's. Install from the lock: `uv sync "
            "--locked` (scripts/setup.sh does it for .venv)."
        )


def inputs_hash(
    ws: Workspace,
    package: str,
    *,
    extra_files: Sequence[Path] = (),
    extra: Mapping[str, str] | None = None,
) -> str:
    """The sha256 of everything building ``package``'s artifacts reads (see module doc)."""
    prefixes: set[str] = set()
    for name in sorted(ws.closure(package)):
        spec = ws.get(name).spec
        prefixes.update(p.rstrip("/") for p in (spec.path, *spec.paths))
    digest = hashlib.sha256()
    digest.update(f"releasekit {releasekit.__version__} {toolkit_hash()}\n".encode())
    for name, installed in toolchain().items():
        digest.update(f"tool {name}\0{installed}\n".encode())
    digest.update(f"package {package}\n".encode())
    for rel in _listed(ws.root, sorted(prefixes)):
        path = ws.root / rel
        if path.is_file():
            digest.update(f"file {rel}\0{file_sha256(path)}\n".encode())
    for path in sorted(Path(p) for p in extra_files):
        shown = _relative(ws.root, path)
        state = file_sha256(path) if path.is_file() else "missing"
        digest.update(f"extra-file {shown}\0{state}\n".encode())
    for key, value in sorted((extra or {}).items()):
        digest.update(f"extra {key}\0{value}\n".encode())
    return digest.hexdigest()


def _relative(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` when inside it, else absolute (POSIX form)."""
    absolute = path if path.is_absolute() else root / path
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return absolute.resolve().as_posix()


@dataclass(frozen=True)
class Entry:
    """One cached artifact: what it was built from and what it produced."""

    key: str
    inputs: str
    outputs: tuple[str, ...]
    digests: dict[str, str] = field(default_factory=dict)


class Cache:
    """The artifact cache of the workspace at ``root`` (``build/cache/artifacts.json``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / CACHE_FILE

    def _read(self) -> dict[str, Entry]:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            return {}
        entries: dict[str, Entry] = {}
        for key, raw in dict(data.get("entries", {})).items():
            try:
                entries[key] = Entry(
                    key=key,
                    inputs=str(raw["inputs"]),
                    outputs=tuple(str(o) for o in raw["outputs"]),
                    digests={str(k): str(v) for k, v in dict(raw["digests"]).items()},
                )
            except (KeyError, TypeError, ValueError):
                continue
        return entries

    def get(self, key: str) -> Entry | None:
        """The entry recorded under ``key``, fresh or not."""
        return self._read().get(key)

    def fresh(self, key: str, inputs: str) -> Entry | None:
        """The entry for ``key`` when built from ``inputs`` and every output is intact."""
        entry = self._read().get(key)
        if entry is None or entry.inputs != inputs or not entry.outputs:
            return None
        for rel in entry.outputs:
            path = self._absolute(rel)
            if not path.is_file() or file_sha256(path) != entry.digests.get(rel):
                return None
        return entry

    def record(self, key: str, inputs: str, outputs: Sequence[Path]) -> Entry:
        """Remember that ``outputs`` were built from ``inputs``; returns the new entry."""
        rels = tuple(_relative(self.root, Path(p)) for p in outputs)
        digests = {rel: file_sha256(self._absolute(rel)) for rel in rels}
        entry = Entry(key=key, inputs=inputs, outputs=rels, digests=digests)
        with self._locked():
            entries = self._read()
            entries[key] = entry
            self._write(entries)
        return entry

    def forget(self, key: str) -> None:
        """Drop the entry for ``key`` (the next build rebuilds it)."""
        with self._locked():
            entries = self._read()
            if entries.pop(key, None) is not None:
                self._write(entries)

    def _absolute(self, rel: str) -> Path:
        path = Path(rel)
        return path if path.is_absolute() else self.root / path

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / (self.path.name + ".lock")).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, entries: Mapping[str, Entry]) -> None:
        data = {
            "format": _FORMAT,
            "entries": {
                key: {"inputs": e.inputs, "outputs": list(e.outputs), "digests": e.digests}
                for key, e in sorted(entries.items())
            },
        }
        files.write_json(self.path, data, redacted=False)
