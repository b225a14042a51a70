"""Tasks of the `sandbox` namespace: the embedded local target under .sandbox/."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import console, emit_json, find_root, reported

if TYPE_CHECKING:
    from releasekit.deploy import testbed

__all__ = ["ns"]


def _show(state: testbed.TestbedState, json: bool) -> None:
    from rich.table import Table

    if json:
        emit_json(state.to_json())
        return
    table = Table(title=f"Sandbox ({state.home})")
    for column in ("service", "url", "pid", "alive"):
        table.add_column(column)
    for row in state.services:
        alive = "[green]yes[/]" if row.alive else "[red]no[/]"
        table.add_row(row.name, row.url, str(row.pid) if row.pid else "-", alive)
    console.print(table)
    console.print(f"index user {state.pypi_user}; password in .sandbox/pypi/credentials")


@task(
    default=True,
    help={
        "json": "Print the sandbox's services and locations as JSON.",
        "cluster": "Also start the local Kubernetes cluster (see `invoke cluster.up`).",
    },
)
def up(c: Context, json: bool = False, cluster: bool = False) -> None:
    """Start the local registry, package index and git remote (keeps what already runs)."""
    from releasekit.deploy import testbed

    with reported():
        _show(testbed.up(find_root(), with_cluster=cluster), json)


@task(
    help={
        "purge": "Also delete every registry, index, git, pilot and cluster data under .sandbox/."
    }
)
def down(c: Context, purge: bool = False) -> None:
    """Stop the sandbox's servers, the pilot and the local cluster; keep data unless --purge."""
    from releasekit.core.workspace import sandbox_home
    from releasekit.deploy import testbed

    with reported():
        root = find_root()
        testbed.down(root, purge=purge)
        console.print(f"sandbox stopped{' and purged' if purge else ''} ({sandbox_home(root)})")


@task(help={"json": "Print the sandbox's services and locations as JSON."})
def status(c: Context, json: bool = False) -> None:
    """Show each sandbox service (url, pid, alive); exit non-zero if any is down."""
    from releasekit.core.errors import PreflightError
    from releasekit.deploy import testbed

    with reported():
        state = testbed.status(find_root())
        _show(state, json)
        down = [s.name for s in state.services if not s.alive]
        if down:
            raise PreflightError(
                f"Not running: {', '.join(down)}. Run `invoke sandbox.up` to start them."
            )


ns = Collection("sandbox", up, down, status)
