"""Which cluster, namespace and values a Kubernetes environment deploys with.

An environment is a table of release.toml whose ``helm`` key names the values files
(``helm/<chart>/values-<helm>.yaml``). Its releases go to namespace ``ironcage-<name>`` of:

- the sandbox's local cluster when ``cluster = "local"`` (``invoke cluster.up``);
- otherwise the cluster of ``KUBECONFIG`` (or ``~/.kube/config``), with the context named
  by ``RELEASEKIT_KUBE_CONTEXT``, the table's ``context`` key, or the current one.

Without release.toml (a bare chart folder), the values environments dev, staging and prod
are environments of their own, on the cluster of the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from releasekit.core import manifest
from releasekit.core.errors import ManifestError
from releasekit.deploy import cluster
from releasekit.deploy.kube import Kube
from releasekit.publish import charts

__all__ = ["CONTEXT_ENV", "KubeEnv", "kube_environments", "resolve"]

CONTEXT_ENV = "RELEASEKIT_KUBE_CONTEXT"
LOCAL = "local"


@dataclass(frozen=True)
class KubeEnv:
    """A Kubernetes environment: its name, values, namespace and cluster."""

    name: str
    values: str
    namespace: str
    kube: Kube
    local_root: Path | None = None

    @property
    def local(self) -> bool:
        """True for the sandbox's cluster (under ``local_root``/.sandbox/cluster)."""
        return self.local_root is not None

    def describe(self) -> str:
        where = "the local cluster" if self.local else (self.kube.context or "the current context")
        return f"{self.name} (namespace {self.namespace} on {where})"


def kube_environments(root: Path) -> dict[str, dict[str, object]]:
    """Name -> table of every environment of release.toml that deploys charts."""
    if not (root / manifest.MANIFEST_NAME).is_file():
        return {env: {"helm": env} for env in charts.ENVIRONMENTS}
    found = manifest.load(root).environments
    return {name: dict(table) for name, table in found.items() if table.get("helm")}


def resolve(root: Path, name: str, namespace: str | None = None) -> KubeEnv:
    """The environment ``name``; ManifestError naming the known ones when it deploys no chart."""
    known = kube_environments(root)
    table = known.get(name)
    if table is None:
        where = root / manifest.MANIFEST_NAME
        raise ManifestError(
            f"Environment `{name}` deploys no charts: {where} has helm environments "
            f"{', '.join(sorted(known)) or 'none'} ([environments.NAME] with a `helm` key). "
            "Pass one of those to --env."
        )
    values = charts.check_env(str(table["helm"]))
    target = table.get("cluster")
    if target not in (None, LOCAL):
        raise ManifestError(
            f"{root / manifest.MANIFEST_NAME}: `environments.{name}.cluster` is {target!r}; "
            f"the only value is {LOCAL!r} (the sandbox's cluster). Leave it out to deploy to "
            "the cluster of KUBECONFIG."
        )
    ns = namespace or f"ironcage-{name}"
    if target == LOCAL:
        kube = Kube(cluster.kubeconfig_path(root), cluster.CONTEXT)
        return KubeEnv(name, values, ns, kube, local_root=root)
    context = os.environ.get(CONTEXT_ENV) or table.get("context")
    return KubeEnv(name, values, ns, Kube(None, str(context) if context else None))
