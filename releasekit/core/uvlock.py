"""The workspace lock, ``uv.lock``: one resolution for the toolkit and every package.

``scripts/setup.sh`` and every nox session install with ``uv sync --locked``, so the
tools that shape artifact bytes (hatchling, uv, PyInstaller, cyclonedx-python-lib, twine,
build) are the locked ones on every machine. This module reads the locked versions, checks
that the lock still matches the pyproject.toml files (``uv lock --check``), and upgrades
it (``uv lock --upgrade``), reporting what changed. Nothing here commits: an upgrade is a
change for review like any other.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from releasekit.core.errors import ManifestError, ToolError
from releasekit.core.run import require_tool, run

__all__ = ["LOCK_FILE", "TOOLCHAIN", "Change", "check", "diff", "locked", "toolchain", "upgrade"]

LOCK_FILE = "uv.lock"
# The distributions whose versions shape the bytes of the artifacts a release builds.
TOOLCHAIN = ("hatchling", "uv", "pyinstaller", "cyclonedx-python-lib", "twine", "build")
_UV_HINT = "Run `scripts/setup.sh`, or `python -m pip install uv` into the toolkit's environment."


@dataclass(frozen=True)
class Change:
    """One distribution whose locked versions differ: ``old`` or ``new`` is "" when absent."""

    name: str
    old: str
    new: str


def _lock_path(root: Path) -> Path:
    path = root / LOCK_FILE
    if not path.is_file():
        raise ManifestError(
            f"{path} does not exist: the workspace has no lock. Run `uv lock` at {root} and "
            "commit uv.lock."
        )
    return path


def locked(root: Path) -> dict[str, str]:
    """Each locked distribution's version(s), by canonical name; forks join as ``a, b``."""
    path = _lock_path(root)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(
            f"{path} is not valid TOML ({exc}). Restore it from git, or run `uv lock` again."
        ) from None
    versions: dict[str, set[str]] = {}
    for entry in data.get("package", []):
        name = canonicalize_name(str(entry.get("name", "")))
        versions.setdefault(name, set()).add(str(entry.get("version", "")))
    return {name: ", ".join(sorted(found, key=_sort_key)) for name, found in versions.items()}


def _sort_key(value: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(value))
    except InvalidVersion:
        return (1, value)


def toolchain(root: Path) -> dict[str, str]:
    """The locked versions of the artifact-shaping tools (``TOOLCHAIN``)."""
    versions = locked(root)
    return {name: versions.get(name, "") for name in TOOLCHAIN}


def diff(old: dict[str, str], new: dict[str, str]) -> list[Change]:
    """The distributions added, removed or moved between two ``locked`` maps, by name."""
    return [
        Change(name, old.get(name, ""), new.get(name, ""))
        for name in sorted(old.keys() | new.keys())
        if old.get(name, "") != new.get(name, "")
    ]


def check(root: Path) -> None:
    """ManifestError unless ``uv.lock`` matches every pyproject.toml of the workspace.

    Offline: a lock that matches is confirmed without an index or a cache, and one that
    does not can never pass, whatever the cache holds.
    """
    path = _lock_path(root)
    try:
        run(
            [require_tool("uv", _UV_HINT), "lock", "--check", "--offline"],
            cwd=root,
            mutates=False,
            quiet=True,
        )
    except ToolError as exc:
        raise ManifestError(
            f"{path} is stale: it no longer matches the pyproject.toml files of the workspace "
            f"(`uv lock --check --offline` exited with status {exc.returncode}). uv said:\n"
            f"{exc.stderr_tail.rstrip()}\nRun `uv lock` at {root} (it keeps every locked "
            "version the change allows) and commit uv.lock with the change."
        ) from None


def upgrade(root: Path, package: str | None = None) -> list[Change]:
    """``uv lock --upgrade`` (or ``--upgrade-package NAME``); what changed, nothing committed."""
    before = locked(root)
    argv: list[str] = [require_tool("uv", _UV_HINT), "lock"]
    if package is None:
        argv.append("--upgrade")
    else:
        name = canonicalize_name(package)
        if name not in before:
            raise ManifestError(
                f"`{package}` is not in {root / LOCK_FILE}, so there is nothing to upgrade. "
                "Name a locked distribution (see uv.lock), or add it to a pyproject.toml first."
            )
        argv += ["--upgrade-package", name]
    run(argv, cwd=root, hint="uv could not resolve the workspace again; the lines say why.")
    return diff(before, locked(root))
