"""Top-level tasks `deploy`, `health` and `rollback`: the pilot and the Kubernetes envs.

`--env pilot` (the default) is docker compose on this host (releasekit.deploy.pilot); the other
environments of release.toml (cluster, dev, staging, prod) are helm releases of every chart
(releasekit.deploy.helm) in namespace ironcage-ENV, read back from the API server.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import (
    console,
    emit_json,
    err_console,
    find_root,
    load_workspace,
    release_lock,
    reported,
    trust,
)
from releasekit.commands.gitops import PULL_REQUEST_HELP

if TYPE_CHECKING:
    from releasekit.deploy import helm as helm_deploy
    from releasekit.deploy import kube_env, pilot

__all__ = ["deploy", "health", "rollback"]

PILOT = "pilot"
# Literal copies of engine constants, so that listing the tasks imports no engine module;
# tests/unit/test_commands.py holds them equal to releasekit.deploy.helm.DEFAULT_TIMEOUT and
# releasekit.deploy.pilot.HEALTH_TIMEOUT.
DEFAULT_TIMEOUT = "5m"
HEALTH_TIMEOUT = 60.0


def _kube(root: Path, env: str) -> kube_env.KubeEnv | None:
    """None for the pilot, else the Kubernetes environment; ManifestError naming all."""
    from releasekit.core.errors import ManifestError
    from releasekit.deploy import kube_env

    if env == PILOT:
        return None
    try:
        return kube_env.resolve(root, env)
    except ManifestError:
        known = [PILOT, *kube_env.kube_environments(root)]
        raise ManifestError(
            f"Unknown environment `{env}`: the known environments are {', '.join(known)} "
            "(pilot: docker compose on this host; the others: helm releases of the "
            "[environments.NAME] tables of release.toml)."
        ) from None


def _show(entry: pilot.Deployment, json: bool) -> None:
    if json:
        emit_json(entry.to_json())
    else:
        console.print(f"[green]{entry.action}[/] {entry.version}: {entry.status} ({entry.detail})")


def _outcomes(outcomes: list[helm_deploy.Outcome], json: bool) -> None:
    if json:
        emit_json([o.to_json() for o in outcomes])
        return
    for o in outcomes:
        console.print(
            f"[green]{o.status}[/] {o.release}: {o.previous or '-'} -> {o.now or '-'}"
            f"{f' ({o.detail})' if o.detail else ''}"
        )


def _chart_registry(root: Path, env: kube_env.KubeEnv, registry: str | None) -> str | None:
    """--registry's host; for the local cluster, the sandbox registry when it runs."""
    from releasekit.core.errors import PreflightError
    from releasekit.deploy import testbed

    if registry:
        return registry.split("/", 1)[0]
    if env.local_root is not None:
        with contextlib.suppress(PreflightError):
            return testbed.running(env.local_root).registry_host
    return None


def _recorded_versions(root: Path, version: str, target: str) -> dict[str, str] | None:
    """For a release id (policy independent): each chart's version in that release."""
    from releasekit.deploy.pilot_pins import is_release_id

    if not is_release_id(version):
        return None
    from releasekit.release.kept import recorded_chart_versions
    from releasekit.release.plan import git_remote

    ws = load_workspace()
    return recorded_chart_versions(ws, version, git_remote(ws, target) or "")


def _charts_at(root: Path, target: str, registry: str | None) -> str:
    """--registry, else the chart registry of ``target`` (the running sandbox's for sandbox)."""
    from releasekit.core import manifest
    from releasekit.deploy import testbed
    from releasekit.publish import targets

    if registry:
        return registry
    if target == targets.SANDBOX:
        return testbed.running(root).registry_host
    return targets.resolve(manifest.load(root), target, None, credentials=False).chart_registry


@task(
    help={
        "env": "Environment: pilot (default; docker compose on this host), cluster (the "
        "sandbox's Kubernetes cluster), dev, staging or prod (the cluster of KUBECONFIG).",
        "version": "Version to deploy (default: the workspace's current version), or the "
        "release id of an independent release (`sandbox-0.3.0+cli-0.2.1`: each chart at its "
        "version).",
        "registry": "Registry host[:port][/namespace] holding the images (and charts) "
        "(default: the running sandbox's for the pilot and the local cluster; the local "
        "charts and the registry images.json records otherwise).",
        "port": "Host port of the pilot's web front end (default: the last one, or 8088).",
        "timeout": "Kubernetes: how long each chart may take to roll out before helm rolls it "
        "back (default 5m).",
        "json": "Print the deployment record as JSON.",
        "target": "Where the release was published: `sandbox` (default) or a [targets.NAME] "
        "of release.toml; every image digest must be signed by its key.",
        "key": "The release's public key (a file, or env://VAR holding it) to check image "
        "signatures with (default: the sandbox's, or the public half of the target's signing key).",
        "pull_request": PULL_REQUEST_HELP,
    }
)
def deploy(
    c: Context,
    env: str = PILOT,
    version_: str | None = None,
    registry: str | None = None,
    port: int = 0,
    timeout: str = DEFAULT_TIMEOUT,
    json: bool = False,
    target_: str = "sandbox",
    key: str | None = None,
    pull_request: bool = False,
) -> None:
    """Deploy a released version (a GitOps environment by commit, waited for until Flux runs it)."""
    from releasekit.commands.gitops import show_applied
    from releasekit.core import version
    from releasekit.core.errors import PreflightError
    from releasekit.deploy import gitops, gitops_env, pilot, testbed
    from releasekit.deploy import helm as helm_deploy

    with reported():
        root = find_root()
        kenv = _kube(root, env)
        target = version_ or next(iter(version.check(load_workspace()).values()))
        checked = trust(root, target_, key)
        if env in gitops_env.gitops_environments(root):
            genv = gitops_env.resolve(root, env)
            versions = _recorded_versions(root, target, target_)
            desired = gitops.plan(root, target, _charts_at(root, target_, registry), registry,
                                  checked.access, versions)  # fmt: skip
            with release_lock(root):
                applied = gitops.release(root, genv, desired, checked, err_console.print,
                                         pull_request=pull_request)  # fmt: skip
            show_applied(applied, json)
            return
        if kenv is None:
            where = registry or testbed.running(root).registry_host
            say = err_console.print if json else console.print
            _show(
                pilot.deploy(root, target, where, port=port or None, trust=checked, say=say), json
            )
            return
        images = root / "dist" / target / "images.json"
        if not images.is_file():
            raise PreflightError(
                f"{images} does not exist, so the images of {target} cannot be pinned by "
                "digest: deploy a released version (`invoke release` writes it) or push the "
                "images first (`invoke docker.push`)."
            )
        upgrades = helm_deploy.plan(
            root, kenv, target, _chart_registry(root, kenv, registry), registry, timeout=timeout
        )
        with release_lock(root):
            _outcomes(
                helm_deploy.deploy(root, kenv, upgrades, say=err_console.print, trust=checked), json
            )


@task(
    help={
        "env": "Environment to check: pilot (default), cluster, dev, staging or prod.",
        "version": "Fail unless the deployment reports this version.",
        "timeout": "Seconds to keep retrying the pilot before giving up (default 60).",
        "json": "Print the verdict as JSON.",
    }
)
def health(
    c: Context,
    env: str = PILOT,
    version_: str | None = None,
    timeout: float = HEALTH_TIMEOUT,
    json: bool = False,
) -> None:
    """Check the pilot's /api/health and /health, or every rollout of ENV on its API server."""
    from releasekit.core.errors import PublishError
    from releasekit.deploy import pilot, rollout

    with reported():
        root = find_root()
        kenv = _kube(root, env)
        if kenv is not None:
            releases = rollout.check(root, kenv, version_)
            if json:
                emit_json([r.to_json() for r in releases])
            bad = [p for r in releases for p in r.problems]
            if bad:
                raise PublishError(
                    f"Unhealthy in {kenv.describe()}: {'; '.join(bad)}. See `invoke "
                    f"helm.history --env {env}`."
                )
            if not json:
                for r in releases:
                    names = ", ".join(
                        f"{w.kind}/{w.name} {w.ready}/{w.desired}" for w in r.workloads
                    )
                    console.print(f"[green]healthy[/] {r.release} {r.version}: {names}")
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
        "env": "Environment to roll back: pilot (default), cluster, dev, staging or prod "
        "(a GitOps one by a commit restoring its earlier desired state).",
        "to": "Version to return to (default: the previous healthy one; on Kubernetes each "
        "release's previous version).",
        "json": "Print the deployment record as JSON.",
        "pull_request": PULL_REQUEST_HELP,
    }
)
def rollback(
    c: Context, env: str = PILOT, to: str | None = None, json: bool = False,
    pull_request: bool = False,
) -> None:  # fmt: skip
    """Return to the previous healthy version (or --to one); a GitOps environment by commit."""
    from releasekit.commands.gitops import show_applied
    from releasekit.deploy import gitops, gitops_env, pilot
    from releasekit.deploy import helm as helm_deploy

    with reported():
        root = find_root()
        if env in gitops_env.gitops_environments(root):
            genv = gitops_env.resolve(root, env)
            with release_lock(root):
                applied = gitops.rollback(root, genv, err_console.print, to,
                                          pull_request=pull_request)  # fmt: skip
            show_applied(applied, json)
            return
        kenv = _kube(root, env)
        if kenv is None:
            _show(pilot.rollback(root, to), json)
            return
        with release_lock(root):
            _outcomes(helm_deploy.rollback(root, kenv, to), json)
