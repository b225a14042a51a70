"""Top-level tasks `deploy`, `health` and `rollback`: the pilot and the Kubernetes envs.

`--env pilot` (the default) is docker compose on this host (releasekit.pilot); dev, staging
and prod are helm releases of every chart (releasekit.helm_deploy) in namespace ironcage-ENV.
"""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from releasekit import charts, helm_deploy, pilot, sandbox, version
from releasekit.commands._common import console, emit_json, find_root, load_workspace, reported
from releasekit.errors import ManifestError, PublishError

__all__ = ["deploy", "health", "rollback"]

PILOT = "pilot"


def _is_pilot(env: str) -> bool:
    """True for the pilot, False for a Kubernetes env; ManifestError naming all otherwise."""
    if env == PILOT:
        return True
    if env in charts.ENVIRONMENTS:
        return False
    raise ManifestError(
        f"Unknown environment `{env}`: the known environments are "
        f"{', '.join([PILOT, *charts.ENVIRONMENTS])} (pilot: docker compose on this host; "
        "the others: helm releases of helm/*/values-ENV.yaml)."
    )


def _show(entry: pilot.Deployment, json: bool) -> None:
    if json:
        emit_json(entry.to_json())
    else:
        console.print(f"[green]{entry.action}[/] {entry.version}: {entry.status} ({entry.detail})")


def _helm_releases(root: Path, env: str) -> list[dict[str, object]]:
    """The last revision of each chart's release in ``env`` (helm history)."""
    found = helm_deploy.history(root, env)
    return [{"chart": name, **(revs[-1] if revs else {})} for name, revs in found.items()]


@task(
    help={
        "env": "Environment: pilot (default; docker compose on this host), dev, staging or prod.",
        "version": "Version to deploy (default: the workspace's current version).",
        "registry": "Registry host[:port][/namespace] holding the images (and charts) "
        "(default: the running sandbox's for the pilot; the local charts otherwise).",
        "port": "Host port of the pilot's web front end (default: the last one, or 8088).",
        "json": "Print the deployment record as JSON.",
    }
)
def deploy(
    c: Context,
    env: str = PILOT,
    version_: str | None = None,
    registry: str | None = None,
    port: int = 0,
    json: bool = False,
) -> None:
    """Deploy a released version and check its health; roll back by itself when unhealthy."""
    with reported():
        root = find_root()
        is_pilot = _is_pilot(env)
        target = version_ or next(iter(version.check(load_workspace()).values()))
        if is_pilot:
            where = registry or sandbox.running(root).registry_host
            _show(pilot.deploy(root, target, where, port=port or None), json)
            return
        host = registry.split("/", 1)[0] if registry else None
        argvs = helm_deploy.deploy_argvs(root, env, target, host, registry)
        for done in helm_deploy.deploy(argvs, root):
            console.print(f"[green]deployed[/] {done.release} {target} to {env}")


@task(
    help={
        "env": "Environment to check: pilot (default), dev, staging or prod.",
        "version": "Fail unless the deployment reports this version.",
        "timeout": "Seconds to keep retrying the pilot before giving up (default 60).",
        "json": "Print the verdict as JSON.",
    }
)
def health(
    c: Context,
    env: str = PILOT,
    version_: str | None = None,
    timeout: float = pilot.HEALTH_TIMEOUT,
    json: bool = False,
) -> None:
    """Check the pilot's /api/health (through the web proxy) and /health, or helm releases."""
    with reported():
        root = find_root()
        if not _is_pilot(env):
            releases = _helm_releases(root, env)
            if json:
                emit_json(releases)
            bad = [
                r["chart"]
                for r in releases
                if r.get("status") != "deployed"
                or (version_ is not None and r.get("app_version") != version_)
            ]
            if bad:
                raise PublishError(
                    f"Unhealthy in {env}: {', '.join(map(str, bad))} (not `deployed`"
                    f"{' at ' + version_ if version_ else ''}); see `invoke helm.history "
                    f"--env {env}`."
                )
            if not json:
                console.print(f"[green]healthy[/] {env}: every release deployed")
            return
        verdict = pilot.health(root, version_, timeout=timeout)
        if json:
            emit_json(verdict.to_json())
        elif verdict.ok:
            console.print(f"[green]healthy[/] {verdict.url}: version {verdict.version}")
        if not verdict.ok:
            raise PublishError(f"The {env} deployment is unhealthy: {verdict.detail}.")


@task(
    help={
        "env": "Environment to roll back: pilot (default), dev, staging or prod.",
        "to": "Pilot only: version to return to (default: the previous healthy one).",
        "json": "Print the deployment record as JSON.",
    }
)
def rollback(c: Context, env: str = PILOT, to: str | None = None, json: bool = False) -> None:
    """Return to the previous healthy version (or --to one) and check its health."""
    with reported():
        root = find_root()
        if _is_pilot(env):
            _show(pilot.rollback(root, to), json)
            return
        if to is not None:
            raise ManifestError(
                f"--to works for the pilot only; helm rolls {env} back to the previous "
                f"revision. Run without --to, or `invoke deploy --env {env} --version {to}`."
            )
        helm_deploy.rollback(root, env)
        console.print(f"[green]rolled back[/] every release in {env} to its previous revision")
