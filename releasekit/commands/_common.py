"""What every command module shares: finding the workspace and reporting engine errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from invoke.exceptions import Exit
from rich.console import Console

from releasekit.core import manifest, workspace
from releasekit.core.errors import ManifestError, ReleaseError
from releasekit.core.run import redact, secrets_from_env

__all__ = ["console", "emit_json", "err_console", "find_root", "load_workspace", "reported"]

console = Console(highlight=False)
err_console = Console(highlight=False, stderr=True)


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (the cwd) holding release.toml."""
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
    return workspace.load(manifest.load(find_root(start)))


@contextmanager
def reported() -> Iterator[None]:
    """Turn an engine error into invoke's Exit with the error's message and code."""
    secrets_from_env()
    try:
        yield
    except ReleaseError as exc:
        raise Exit(f"error: {redact(str(exc))}", code=exc.exit_code) from None


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout, for machines."""
    print(redact(json.dumps(data, indent=2, sort_keys=True)))
