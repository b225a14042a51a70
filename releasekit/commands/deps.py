"""Tasks of the `deps` namespace: the workspace lock (uv.lock), checked and upgraded."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import console, emit_json, find_root, reported

__all__ = ["ns"]


@task(help={"json": "Print the locked versions of the artifact-shaping tools as JSON."})
def check(c: Context, json: bool = False) -> None:
    """Fail when uv.lock no longer matches the pyproject.toml files; show the locked toolchain."""
    from releasekit.core import uvlock

    with reported():
        root = find_root()
        uvlock.check(root)
        tools = uvlock.toolchain(root)
        if json:
            emit_json({"lock": str(root / uvlock.LOCK_FILE), "toolchain": tools})
            return
        shown = ", ".join(f"{name} {value}" for name, value in tools.items())
        console.print(f"[green]ok[/] {uvlock.LOCK_FILE} matches the workspace; {shown}")


@task(
    default=True,
    help={
        "package": "Upgrade this one distribution (and what it needs) instead of everything.",
        "json": "Print the changes as JSON.",
    },
)
def upgrade(c: Context, package: str | None = None, json: bool = False) -> None:
    """Run `uv lock --upgrade` and show each changed version; nothing is committed."""
    from releasekit.core import uvlock

    with reported():
        root = find_root()
        changes = uvlock.upgrade(root, package)
        if json:
            emit_json([{"name": ch.name, "old": ch.old, "new": ch.new} for ch in changes])
            return
        if not changes:
            console.print(f"{uvlock.LOCK_FILE} is already at the newest versions allowed")
            return
        for ch in changes:
            console.print(f"{ch.name}: {ch.old or '(new)'} -> {ch.new or '(removed)'}")
        console.print(
            f"[green]updated[/] {uvlock.LOCK_FILE}: {len(changes)} changed; review, run the "
            "checks, and commit it"
        )


ns = Collection("deps", check, upgrade)
