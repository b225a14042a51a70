"""Tasks of the `helm` namespace: lint, render, package, push, deploy and roll back the charts."""

from __future__ import annotations

import shlex

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

__all__ = ["ns"]

# Literal copies of engine constants, so that listing the tasks imports no engine module;
# tests/unit/test_commands.py holds them equal to releasekit.publish.charts.ENVIRONMENTS and
# releasekit.deploy.helm.DEFAULT_TIMEOUT.
ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")
DEFAULT_TIMEOUT = "5m"
_ENV = f"Environment: {', '.join(ENVIRONMENTS)}."
_CHART = "Only this chart (default: every chart under helm/)."
_NAMESPACE = "Kubernetes namespace (default ironcage-ENV)."


def _envs(env: str | None) -> tuple[str, ...]:
    from releasekit.publish import charts

    return (charts.check_env(env),) if env else charts.ENVIRONMENTS


@task(help={"env": f"Only this environment (default: all). {_ENV}", "chart": _CHART})
def lint(c: Context, env: str | None = None, chart: str | None = None) -> None:
    """helm lint --strict every chart with each environment's values."""
    from releasekit.publish import charts

    with reported():
        count = charts.lint(find_root(), _envs(env), chart)
        console.print(f"[green]ok[/] {count} chart/environment pairs lint clean (--strict)")


@task(
    help={
        "env": f"Only this environment (default: all). {_ENV}",
        "chart": _CHART,
        "out": "Folder the rendered manifests are written to, as <chart>-<env>.yaml.",
    }
)
def template(
    c: Context, env: str | None = None, chart: str | None = None, out: str = "build/rendered"
) -> None:
    """Render every chart for every environment and validate each manifest's schema."""
    from rich.table import Table

    from releasekit.publish import charts

    with reported():
        root = find_root()
        folder = root / out
        folder.mkdir(parents=True, exist_ok=True)
        table = Table(title=f"Rendered manifests (Kubernetes {charts.KUBERNETES_VERSION} schemas)")
        for column in ("chart", "env", "manifests", "invalid"):
            table.add_column(column)
        invalid: list[charts.Invalid] = []
        for ch in charts.find_charts(root, chart):
            for e in _envs(env):
                rendered = charts.render(root, e, ch)
                (folder / f"{ch.name}-{e}.yaml").write_text(rendered.text, encoding="utf-8")
                bad = charts.validate(rendered)
                invalid += bad
                table.add_row(ch.name, e, str(len(rendered.manifests)), str(len(bad)))
        console.print(table)
        for item in invalid:
            console.print(f"[red]invalid[/] {item}")
        if invalid:
            raise Exit(f"error: {len(invalid)} manifests break the Kubernetes schema.", code=1)
        console.print(f"[green]ok[/] every manifest is valid; written to {folder}")


@task(
    help={
        "version": "Chart version and appVersion (default: the version Chart.yaml holds).",
        "chart": _CHART,
    }
)
def package(c: Context, version: str | None = None, chart: str | None = None) -> None:
    """Package the charts into dist/<version>/charts/."""
    from releasekit.publish import charts

    with reported():
        for archive in charts.package(find_root(), version, chart):
            console.print(f"[green]packaged[/] {archive}")


@task(
    help={
        "registry": "Registry HOST[:PORT] (charts go to oci://HOST/charts) or an oci:// URL "
        "(default: the running sandbox's registry).",
        "version": "Version of the archives in dist/<version>/charts/ (default: Chart.yaml's).",
        "chart": _CHART,
    }
)
def push(
    c: Context, registry: str | None = None, version: str | None = None, chart: str | None = None
) -> None:
    """Push the packaged charts to an OCI registry; identical ones are skipped."""
    from releasekit.deploy import testbed
    from releasekit.publish import charts

    with reported():
        root = find_root()
        where = registry or testbed.running(root).registry_host
        for ch in charts.find_charts(root, chart):
            v = version or ch.version
            archive = root / "dist" / v / "charts" / f"{ch.name}-{v}.tgz"
            if not archive.is_file():
                raise Exit(f"error: {archive} does not exist: run `invoke helm.package` first.", 1)
            pushed = charts.push(archive, where)
            console.print(f"{pushed.ref}: {pushed.action}")


_KENV = "Environment of release.toml whose `helm` key names the values (e.g. cluster, dev)."


@task(
    help={
        "env": f"Environment to deploy. {_KENV}",
        "dry_run": "Print the exact helm commands and let the API server validate them "
        "(--dry-run=server); nothing changes. Needs the environment's cluster.",
        "version": "Release version whose charts and dist/<version>/images.json are deployed "
        "(default: the version Chart.yaml holds).",
        "registry": "Install the charts from this OCI registry (HOST or oci:// URL) instead of "
        "the helm/ folders.",
        "image_registry": "Registry host the images are pulled from (default: the one "
        "images.json records).",
        "namespace": _NAMESPACE,
        "chart": _CHART,
        "timeout": "How long helm waits for each chart to roll out before it rolls back "
        "(default 5m).",
        "json": "Print what happened to each release as JSON.",
        "target": "Where the release was published: `sandbox` (default) or a [targets.NAME] "
        "of release.toml; every image digest must be signed by its key.",
        "key": "The release's public key (a file, or env://VAR holding it) to check image "
        "signatures with (default: the sandbox's, or the public half of the target's signing key).",
    }
)
def deploy(
    c: Context,
    env: str,
    dry_run: bool = False,
    version: str | None = None,
    registry: str | None = None,
    image_registry: str | None = None,
    namespace: str | None = None,
    chart: str | None = None,
    timeout: str = DEFAULT_TIMEOUT,
    json: bool = False,
    target: str = "sandbox",
    key: str | None = None,
) -> None:
    """helm upgrade --install every chart into ENV (Helm 4: server-side, waits, rolls back)."""
    from releasekit.core.run import redact
    from releasekit.deploy import helm as helm_deploy
    from releasekit.deploy import kube_env

    with reported():
        root = find_root()
        kenv = kube_env.resolve(root, env, namespace)
        upgrades = helm_deploy.plan(
            root, kenv, version, registry, image_registry, "server" if dry_run else None, chart,
            timeout,
        )  # fmt: skip
        if not json:
            for up in upgrades:
                console.print(redact(shlex.join(up.argv)), markup=False, soft_wrap=True)
        with release_lock(root):
            outcomes = helm_deploy.deploy(
                root, kenv, upgrades, say=err_console.print, trust=trust(root, target, key)
            )
        if json:
            emit_json([o.to_json() for o in outcomes])
            return
        for done in outcomes:
            if dry_run:
                print(redact(done.detail))
            console.print(
                f"[green]{done.status}[/] {done.release} {done.target} ({kenv.describe()})"
            )
        if dry_run:
            console.print("[green]dry run[/]: the API server accepted every chart; nothing changed")


@task(
    help={
        "env": f"Environment to roll back. {_KENV}",
        "to": "Version to return to (default: each release's previous version).",
        "namespace": _NAMESPACE,
        "chart": _CHART,
        "json": "Print what happened to each release as JSON.",
    }
)
def rollback(
    c: Context,
    env: str,
    to: str | None = None,
    namespace: str | None = None,
    chart: str | None = None,
    json: bool = False,
) -> None:
    """helm rollback each release of ENV to its previous version (or --to one) and wait."""
    from releasekit.deploy import helm as helm_deploy
    from releasekit.deploy import kube_env

    with reported():
        root = find_root()
        with release_lock(root):
            outcomes = helm_deploy.rollback(root, kube_env.resolve(root, env, namespace), to, chart)
        if json:
            emit_json([o.to_json() for o in outcomes])
            return
        for done in outcomes:
            console.print(
                f"[green]rolled back[/] {done.release}: {done.previous} -> {done.now} "
                f"({done.detail}, now revision {done.revision})"
            )


@task(
    help={
        "env": f"Environment to show. {_KENV}",
        "namespace": _NAMESPACE,
        "chart": _CHART,
        "json": "Print the revisions as JSON.",
    }
)
def history(
    c: Context,
    env: str,
    namespace: str | None = None,
    chart: str | None = None,
    json: bool = False,
) -> None:
    """Show the revisions of each release in ENV (helm history)."""
    from rich.table import Table

    from releasekit.deploy import helm as helm_deploy
    from releasekit.deploy import kube_env

    with reported():
        root = find_root()
        found = helm_deploy.history(root, kube_env.resolve(root, env, namespace), chart)
        if json:
            emit_json(found)
            return
        for release, revisions in found.items():
            table = Table(title=f"{release} ({env})")
            for column in ("revision", "updated", "status", "chart", "app version", "description"):
                table.add_column(column)
            for rev in revisions:
                table.add_row(
                    *(str(rev.get(k, "")) for k in ("revision", "updated", "status", "chart")),
                    str(rev.get("app_version", "")),
                    str(rev.get("description", "")),
                )
            console.print(table)


ns = Collection("helm", lint, template, package, push, deploy, rollback, history)
