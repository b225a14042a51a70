"""Task `promote` and the `gitops` namespace: environments whose desired state lives in git."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from releasekit.commands._common import (
    console,
    emit_json,
    err_console,
    find_root,
    release_lock,
    reported,
    trust,
)

if TYPE_CHECKING:
    from releasekit.deploy import gitops

__all__ = ["PULL_REQUEST_HELP", "ns", "promote", "show_applied"]

# A literal copy of releasekit.deploy.gitops.DEFAULT_TIMEOUT (listing tasks imports no engine).
DEFAULT_TIMEOUT = 300
PULL_REQUEST_HELP = (
    "Commit to a branch of its own and open a pull request into the environment's branch "
    "(GitHub repositories, with the environment's token) instead of pushing; Flux is not "
    "waited for."
)


def show_applied(applied: gitops.Outcome, json: bool) -> None:
    """The commit Flux applied and each HelmRelease, as a table (or JSON); or the pull request."""
    from rich.table import Table

    from releasekit.deploy.gitops_pr import Proposal

    if isinstance(applied, Proposal):
        if json:
            emit_json(applied.to_json())
        else:
            console.print(f"[green]proposed[/] {applied.env} {applied.version}: {applied.url}")
        return
    if json:
        emit_json({"env": applied.env, "commit": applied.commit, "version": applied.version,
                   "changed": applied.changed, "flux": applied.observed.to_json()})  # fmt: skip
        return
    table = Table(title=f"{applied.env} at {applied.commit[:12]} ({applied.version})")
    for column in ("HelmRelease", "running", "Ready"):
        table.add_column(column)
    for r in applied.observed.releases:
        table.add_row(r.name, r.running, "[green]yes[/]" if r.ready else f"[red]no[/] {r.reason}")
    console.print(table)


@task(
    name="promote",
    help={
        "from_": "Environment whose running release is promoted (e.g. dev).",
        "to": "Environment it is promoted to (e.g. staging).",
        "version": "Refuse unless the source environment runs exactly this version.",
        "yes": "Do not ask for confirmation.",
        "key": "The release's public key (a file, or env://VAR) the digests are checked with.",
        "target": "Target whose registry holds the release (default: sandbox).",
        "timeout": "Seconds to wait for Flux to report every HelmRelease Ready.",
        "json": "Print the result as JSON.",
        "pull_request": PULL_REQUEST_HELP,
    },
)
def promote(
    c: Context, from_: str = "", to: str = "", version: str | None = None, yes: bool = False,
    key: str | None = None, target: str = "sandbox", timeout: int = DEFAULT_TIMEOUT,
    json: bool = False, pull_request: bool = False,
) -> None:  # fmt: skip
    """Copy exactly the versions and digests one environment runs into another, as one commit."""
    from releasekit.deploy import gitops, gitops_env

    if not from_ or not to:
        raise Exit("error: pass --from ENV and --to ENV (e.g. --from dev --to staging)", code=2)
    with reported():
        root = find_root()
        source, dest = gitops_env.resolve(root, from_), gitops_env.resolve(root, to)
        if not yes and input(f"Promote {from_} to {to}? [y/N] ").strip().lower() != "y":
            raise Exit("not promoted", code=1)
        with release_lock(root):
            checked = trust(root, target, key)
            applied = gitops.promote(root, source, dest, checked, err_console.print, version,
                                     timeout, pull_request)  # fmt: skip
        show_applied(applied, json)


@task(
    help={
        "env": "Only this environment (default: every GitOps environment of release.toml).",
        "json": "Print the status as JSON.",
    }
)
def status(c: Context, env: str | None = None, json: bool = False) -> None:
    """Per environment: desired commit and version, what Flux applied, Ready or why not, drift."""
    from rich.table import Table

    from releasekit.deploy import gitops_status

    with reported():
        rows = gitops_status.status(find_root(), env)
        if json:
            emit_json([r.to_json() for r in rows])
            return
        table = Table(title="GitOps environments")
        for column in ("env", "desired", "applied by Flux", "Ready", "drift"):
            table.add_column(column)
        for r in rows:
            why = r.problem or "; ".join(f"{x.name}: {x.reason}" for x in r.releases if x.reason)
            table.add_row(
                r.env, f"{r.desired_version or '-'} {r.desired_commit[:12]}", r.applied or "-",
                "[green]yes[/]" if r.ready else f"[red]no[/] {why}", "; ".join(r.drift) or "none",
            )  # fmt: skip
        console.print(table)


@task(
    help={
        "env": "The environment (a [environments.NAME] of release.toml).",
        "output": "Also append `deploy=gitops|helm` to this file (GitHub Actions: $GITHUB_OUTPUT).",
    }
)
def route(c: Context, env: str, output: str | None = None) -> None:
    """How ENV deploys: `gitops` (a commit Flux applies) or `helm` (the charts pushed to it)."""
    from pathlib import Path

    from releasekit.deploy import gitops_env, kube_env

    with reported():
        root = find_root()
        if env in gitops_env.gitops_environments(root):
            how = gitops_env.GITOPS
            gitops_env.resolve(root, env)
        else:
            how = "helm"
            kube_env.resolve(root, env)
        console.print(how)
        if output:
            with Path(output).open("a", encoding="utf-8") as sink:
                sink.write(f"deploy={how}\n")


ns = Collection("gitops", status, route)
