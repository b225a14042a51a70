"""Where each GitOps environment stands: desired commit and version, what Flux applied, drift.

Drift is read the way helm-controller sees it: the Deployments and StatefulSets of the
release's last manifest (helm's own record in the namespace, a Secret
``sh.helm.release.v1.<name>.v<N>``) against the live objects, replicas and images. While a
hand edit lasts it is listed; helm-controller puts it back at its next reconcile.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from releasekit.core.errors import PreflightError
from releasekit.deploy import gitops_flux
from releasekit.deploy.gitops import desired_of, repository_url
from releasekit.deploy.gitops_env import GitOpsEnv, gitops_environments, resolve
from releasekit.deploy.gitops_repo import checkout

__all__ = ["EnvStatus", "drift", "status"]


@dataclass(frozen=True)
class EnvStatus:
    """One environment: desired (git) against applied (Flux) and live (drift)."""

    env: str
    desired_commit: str
    desired_version: str
    applied: str
    ready: bool
    releases: tuple[gitops_flux.ReleaseState, ...] = ()
    drift: tuple[str, ...] = ()
    problem: str = ""

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "releases": [asdict(r) for r in self.releases]}


def _manifest(core: Any, namespace: str, release: str) -> list[dict[str, Any]]:
    """The objects of the release's newest revision, as helm recorded them."""
    import yaml

    secrets = core.list_namespaced_secret(
        namespace, label_selector=f"owner=helm,name={release}"
    ).items
    if not secrets:
        return []
    newest = max(secrets, key=lambda s: int(s.metadata.labels.get("version", "0")))
    raw = base64.b64decode(base64.b64decode(newest.data["release"]))
    record = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return [d for d in yaml.safe_load_all(record.get("manifest", "")) if isinstance(d, dict)]


def drift(env: GitOpsEnv, releases: list[str]) -> list[str]:
    """Each difference of replicas or images between the releases' manifests and the cluster."""
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    api = env.kube.api()
    core: Any = k8s.CoreV1Api(api)
    apps: Any = k8s.AppsV1Api(api)
    found = []
    for release in releases:
        for doc in _manifest(core, env.namespace, release):
            kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
            if kind not in ("Deployment", "StatefulSet"):
                continue
            read = apps.read_namespaced_deployment if kind == "Deployment" else (
                apps.read_namespaced_stateful_set)  # fmt: skip
            try:
                live = read(name, env.namespace)
            except ApiException:
                found.append(f"{kind} {name} of {release} is missing")
                continue
            want = doc.get("spec", {}).get("replicas")  # None: an autoscaler owns them
            if want is not None and live.spec.replicas != want:
                found.append(f"{kind} {name}: {live.spec.replicas} replicas, released {want}")
            images = [c.get("image") for c in doc["spec"]["template"]["spec"]["containers"]]
            running = [c.image for c in live.spec.template.spec.containers]
            if running != images:
                found.append(
                    f"{kind} {name}: runs {', '.join(running)}, released {', '.join(images)}"
                )
    return found


def _one(root: Path, env: GitOpsEnv) -> EnvStatus:
    copy = checkout(root, repository_url(root, env), env.branch, env.token())
    history = copy.log(env.path)
    desired = desired_of(copy, env)
    commit = history[0][0] if history else ""
    observed = gitops_flux.observe(env)
    names = [c.name for c in desired.charts] if desired else []
    ready = observed.kustomization_ready and all(
        r.converged for r in observed.releases if r.name in names
    )
    return EnvStatus(
        env.name, commit, desired.version if desired else "", observed.applied,
        ready and bool(names), observed.releases, tuple(drift(env, names)),
        observed.kustomization_reason,
    )  # fmt: skip


def status(root: Path, only: str | None = None) -> list[EnvStatus]:
    """The status of every GitOps environment of release.toml (or of ``only``)."""
    names = [only] if only else sorted(gitops_environments(root))
    rows = []
    for name in names:
        env = resolve(root, name)
        try:
            rows.append(_one(root, env))
        except PreflightError as exc:
            rows.append(EnvStatus(name, "", "", "", False, problem=str(exc)))
    return rows
