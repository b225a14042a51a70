"""Reading and seeding a Kubernetes cluster through its API server.

A cluster is a kubeconfig and a context (``Kube``): the local cluster's, or a real one's
from the environment (``KUBECONFIG`` and ``RELEASEKIT_KUBE_CONTEXT``, else the current
context). Rollouts are judged as ``kubectl rollout status`` judges them.

The Kubernetes client takes two seconds to import, so it is imported by the functions that
talk to a cluster, never when the task list loads.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from releasekit.core.errors import PreflightError, PublishError

__all__ = [
    "NODE_ANNOTATION",
    "STORAGE_CLASS",
    "Kube",
    "Workload",
    "bootstrap",
    "ready_nodes",
    "wait_node_ready",
    "workloads",
]

NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
STORAGE_CLASS = "kwok-volume"
_RELEASE_ANNOTATION = "meta.helm.sh/release-name"


@dataclass(frozen=True)
class Kube:
    """Where a cluster is: a kubeconfig (None: the default search) and a context (None: current)."""

    kubeconfig: Path | None = None
    context: str | None = None

    def api(self) -> Any:
        """An API client for this cluster; PreflightError naming the kubeconfig when unusable."""
        from kubernetes import config as k8s_config
        from kubernetes.config.config_exception import ConfigException

        try:
            api: Any = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(self.kubeconfig) if self.kubeconfig else None,
                context=self.context,
                persist_config=False,
            )
            return api
        except (ConfigException, OSError, TypeError) as exc:
            where = self.kubeconfig or "$KUBECONFIG (or ~/.kube/config)"
            raise PreflightError(
                f"Cannot use the kubeconfig {where}"
                f"{f' with context {self.context}' if self.context else ''}: {exc}. Point "
                "KUBECONFIG at a cluster (and RELEASEKIT_KUBE_CONTEXT at its context), or "
                "start the local one with `invoke cluster.up`."
            ) from None

    def env(self) -> dict[str, str]:
        """The environment helm needs to reach this cluster."""
        env = {}
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        if self.context:
            env["HELM_KUBECONTEXT"] = self.context
        return env


@dataclass(frozen=True)
class Workload:
    """A Deployment or StatefulSet of a release and how far its rollout is."""

    kind: str
    namespace: str
    name: str
    release: str
    desired: int
    updated: int
    ready: int
    available: int
    current: bool
    images: tuple[str, ...]
    reason: str

    @property
    def rolled_out(self) -> bool:
        return not self.reason

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "rolled_out": self.rolled_out}


def _unreachable(kube: Kube, exc: Exception) -> PublishError:
    return PublishError(
        f"The Kubernetes API server of {kube.kubeconfig or 'the current kubeconfig'} did not "
        f"answer: {exc}. Start the local cluster with `invoke cluster.up`, or point "
        "KUBECONFIG at a running cluster."
    )


def _create(call: Any, body: dict[str, Any]) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        call(body=body)
    except ApiException as exc:
        if exc.status != 409:
            raise


def bootstrap(kubeconfig: Path, context: str, node: str) -> None:
    """The kwok node and the default StorageClass of the local cluster, made when missing."""
    from kubernetes import client as k8s

    api = Kube(kubeconfig, context).api()
    allocatable = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    _create(
        k8s.CoreV1Api(api).create_node,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": node,
                "annotations": {NODE_ANNOTATION[0]: NODE_ANNOTATION[1]},
                "labels": {
                    "kubernetes.io/hostname": node,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
            "status": {"allocatable": allocatable, "capacity": allocatable},
        },
    )
    _create(
        k8s.StorageV1Api(api).create_storage_class,
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kwok.x-k8s.io/volume",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        },
    )


def ready_nodes(kubeconfig: Path, context: str) -> int:
    """How many nodes report Ready (0 when the API server does not answer)."""
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        nodes: Any = k8s.CoreV1Api(Kube(kubeconfig, context).api()).list_node(_request_timeout=5)
    except (ApiException, HTTPError, OSError):
        return 0
    ready = 0
    for node in nodes.items:
        conditions = (node.status.conditions if node.status else None) or []
        ready += any(c.type == "Ready" and c.status == "True" for c in conditions)
    return ready


def wait_node_ready(kubeconfig: Path, context: str, node: str, timeout: float) -> None:
    """Wait until a node is Ready; PublishError naming the kwok log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready_nodes(kubeconfig, context) > 0:
            return
        time.sleep(0.2)
    raise PublishError(
        f"Node {node} of the local cluster did not become Ready within {timeout:.0f} s: see "
        f"{kubeconfig.parent / 'logs' / 'kwok.log'}."
    )


def _judge(kind: str, obj: Any) -> tuple[int, int, int, int, bool, str]:
    """(desired, updated, ready, available, current, reason it is not rolled out or "")."""
    spec, status, meta = obj.spec, obj.status, obj.metadata
    desired = spec.replicas if spec.replicas is not None else 1
    updated = status.updated_replicas or 0
    ready = status.ready_replicas or 0
    available = getattr(status, "available_replicas", None) or 0
    current = (status.observed_generation or 0) >= (meta.generation or 0)
    total = status.replicas or 0
    if not current:
        return desired, updated, ready, available, current, "the controller has not seen the change"
    if kind == "StatefulSet":
        if ready < desired or updated < desired:
            return desired, updated, ready, available, current, f"{ready}/{desired} ready"
        return desired, updated, ready, available, current, ""
    if updated < desired:
        return desired, updated, ready, available, current, f"{updated}/{desired} updated"
    if total > updated:
        return desired, updated, ready, available, current, f"{total - updated} old replicas"
    if available < updated:
        return desired, updated, ready, available, current, f"{available}/{desired} available"
    return desired, updated, ready, available, current, ""


def workloads(kube: Kube, namespace: str, release: str | None = None) -> list[Workload]:
    """The Deployments and StatefulSets in ``namespace`` (of helm release ``release``)."""
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    apps = k8s.AppsV1Api(kube.api())
    found = []
    try:
        listed: list[tuple[str, Any]] = [
            ("Deployment", apps.list_namespaced_deployment(namespace, _request_timeout=10)),
            ("StatefulSet", apps.list_namespaced_stateful_set(namespace, _request_timeout=10)),
        ]
    except (HTTPError, OSError) as exc:
        raise _unreachable(kube, exc) from None
    except ApiException as exc:
        raise PublishError(
            f"The API server refused to list the workloads of namespace {namespace}: "
            f"{exc.status} {exc.reason}. The kubeconfig's user needs `list` on deployments "
            "and statefulsets there."
        ) from None
    for kind, items in listed:
        for obj in items.items:
            owner = (obj.metadata.annotations or {}).get(_RELEASE_ANNOTATION, "")
            if release is not None and owner != release:
                continue
            desired, updated, ready, available, current, reason = _judge(kind, obj)
            images = tuple(c.image for c in obj.spec.template.spec.containers)
            found.append(
                Workload(kind, namespace, obj.metadata.name, owner, desired, updated, ready,
                         available, current, images, reason)
            )  # fmt: skip
    return sorted(found, key=lambda w: (w.release, w.kind, w.name))
