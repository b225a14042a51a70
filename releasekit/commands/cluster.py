"""Tasks of the `cluster` namespace: the sandbox's local Kubernetes control plane."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import console, emit_json, find_root, reported

if TYPE_CHECKING:
    from releasekit.deploy import cluster

__all__ = ["ns", "show"]


def show(state: cluster.ClusterState, json: bool) -> None:
    """The cluster's servers as a table (or JSON), and how to point helm or kubectl at it."""
    from rich.table import Table

    if json:
        emit_json(state.to_json())
        return
    table = Table(title=f"Local cluster ({state.home})")
    for column in ("server", "url", "pid", "alive"):
        table.add_column(column)
    for row in state.components:
        alive = "[green]yes[/]" if row.alive else "[red]no[/]"
        table.add_row(row.name, row.url, str(row.pid) if row.pid else "-", alive)
    console.print(table)
    console.print(f"nodes Ready: {state.nodes_ready}; API server {state.server}")
    console.print(f"export KUBECONFIG={state.kubeconfig}   # context {state.context}")


@task(default=True, help={"json": "Print the cluster's servers and kubeconfig as JSON."})
def up(c: Context, json: bool = False) -> None:
    """Start the local control plane (etcd, API server, controllers, kwok node); keeps what runs."""
    from releasekit.deploy import cluster

    with reported():
        start = time.monotonic()
        state = cluster.up(find_root())
        show(state, json)
        if not json:
            console.print(f"[green]ready[/] in {time.monotonic() - start:.1f} s")


@task(help={"json": "Print the cluster's servers and kubeconfig as JSON."})
def status(c: Context, json: bool = False) -> None:
    """Show each server of the local cluster (url, pid, alive); exit non-zero if any is down."""
    from releasekit.core.errors import PreflightError
    from releasekit.deploy import cluster

    with reported():
        state = cluster.status(find_root())
        show(state, json)
        if not state.alive:
            down = [s.name for s in state.components if not s.alive] or ["no Ready node"]
            raise PreflightError(
                f"Not running: {', '.join(down)}. Run `invoke cluster.up` to start it."
            )


@task(help={"purge": "Also delete the cluster's data: etcd, certificates, kubeconfig, logs."})
def down(c: Context, purge: bool = False) -> None:
    """Stop the local cluster (API server before etcd); keep its data unless --purge."""
    from releasekit.deploy import cluster

    with reported():
        root = find_root()
        cluster.down(root, purge=purge)
        console.print(
            f"cluster stopped{' and purged' if purge else ''} ({root / cluster.CLUSTER_DIR})"
        )


ns = Collection("cluster", up, status, down)
