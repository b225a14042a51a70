"""What every command module shares: finding the workspace and reporting engine errors.

Listing the tasks and parsing their flags must stay fast, so nothing here (nor at the top of
any command module) imports the engine's heavy parts or rich: they are imported by the task
bodies that use them, and the consoles are created on first use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from invoke.exceptions import Exit
from invoke.tasks import Task as _Task

if TYPE_CHECKING:
    from rich.console import Console

    from releasekit.core import workspace
    from releasekit.publish.trust import Trust

__all__ = [
    "LetterFlagTask",
    "console",
    "emit_json",
    "err_console",
    "find_root",
    "lazy_console",
    "load_workspace",
    "release_lock",
    "reported",
    "trust",
]


class LetterFlagTask(_Task):  # type: ignore[type-arg]
    """A task whose automatic short flags are letters only.

    invoke gives a flag the first character of its name that no other flag took; for
    ``no_remote_cache`` that can be the dash, which would print as ``--`` and clash with the
    end of the options. Such a flag gets no short form."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        opts["names"] = [n for n in opts["names"] if len(n) > 1 or n.isalnum()]
        return opts


class _LazyConsole:
    """A rich Console built on first use, so importing a command module stays cheap."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


def lazy_console(**options: Any) -> Console:
    """A ``rich.console.Console(**options)`` that is only built when first used."""
    return cast("Console", _LazyConsole(**options))


console = lazy_console(highlight=False)
err_console = lazy_console(highlight=False, stderr=True)


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (the cwd) holding release.toml."""
    from releasekit.core import manifest
    from releasekit.core.errors import ManifestError

    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / manifest.MANIFEST_NAME).is_file():
            return folder
    raise ManifestError(
        f"No {manifest.MANIFEST_NAME} found in {here} or any folder above it. "
        "Run invoke from inside the monorepo."
    )


def load_workspace(start: Path | None = None) -> workspace.Workspace:
    """Load release.toml and the packages it names."""
    from releasekit.core import manifest, workspace

    return workspace.load(manifest.load(find_root(start)))


def trust(root: Path, target: str, key: str | None) -> Trust:
    """How a deploy from ``target`` checks image signatures: ``key``, else the target's key."""
    from releasekit.core import manifest
    from releasekit.deploy import testbed
    from releasekit.publish import targets
    from releasekit.publish.trust import key_file, trust_of

    state = testbed.running(root) if target == targets.SANDBOX else None
    chosen = targets.resolve(manifest.load(root), target, state, credentials=False)
    return trust_of(root, chosen, key_file(root, key) if key else None)


@contextmanager
def reported() -> Iterator[None]:
    """Turn an engine error into invoke's Exit with the error's message and code."""
    from releasekit.core.errors import ReleaseError
    from releasekit.core.run import redact, secrets_from_env

    secrets_from_env()
    try:
        yield
    except ReleaseError as exc:
        raise Exit(f"error: {redact(str(exc))}", code=exc.exit_code) from None


@contextmanager
def release_lock(root: Path) -> Iterator[None]:
    """Hold the release lock: no release, deploy or rollback runs helm meanwhile."""
    from releasekit.release.plan import lock_path
    from releasekit.release.state import lock

    with lock(lock_path(root)):
        yield


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout, for machines."""
    from releasekit.core.run import redact

    print(redact(json.dumps(data, indent=2, sort_keys=True)))
