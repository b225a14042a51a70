"""Flux's controllers beside the local control plane: source-, kustomize- and helm-controller.

They are plain processes against the local API server (``KUBECONFIG``; they have no
``--kubeconfig`` flag), in namespace ``flux-system`` (``RUNTIME_NAMESPACE``), leader election
off, every port on 127.0.0.1. source-controller serves the artifacts it fetched on its own
storage port and advertises that address, from which the other two download them.
``scripts/build-flux.sh`` builds them (Flux v2.9.2) and keeps the CRDs of the same module
versions beside each binary (``<binary>.crds/``); ``install_crds`` applies those.
``releasekit.deploy.cluster`` starts, probes and stops them with the rest of the cluster.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from releasekit.core.errors import PreflightError, PublishError

__all__ = [
    "BUILD_HINT",
    "CONTROLLERS",
    "NAMESPACE",
    "PORTS",
    "argv",
    "crd_dir",
    "env",
    "install_crds",
]

CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller")
NAMESPACE = "flux-system"
# Ports of each controller beyond its health port (recorded under the controller's name).
PORTS = (*(f"{c}-metrics" for c in CONTROLLERS), "source-controller-storage")
BUILD_HINT = (
    "scripts/build-flux.sh (run by scripts/setup.sh, part cluster) builds Flux's controllers "
    "from the Go module proxy into ~/.cache/releasekit/bin (about 4 minutes the first time) "
    "and links them into /usr/local/bin; run it, then `invoke cluster.up`."
)
_ESTABLISHED_TIMEOUT = 60.0


def crd_dir(exe: str) -> Path:
    """The CRDs built with the controller at ``exe`` (``<real binary>.crds/``)."""
    real = Path(exe).resolve()
    found = real.with_name(real.name + ".crds")
    if not found.is_dir():
        raise PreflightError(
            f"The CRDs of {real} are missing: {found} does not exist. {BUILD_HINT}"
        )
    return found


def env(home: Path) -> dict[str, str]:
    """The environment of every controller: the cluster's admin kubeconfig and namespace."""
    return {"KUBECONFIG": str(home / "kubeconfig"), "RUNTIME_NAMESPACE": NAMESPACE}


def argv(name: str, exe: str, home: Path, ports: dict[str, int]) -> list[str]:
    """The command line of controller ``name``: health, metrics (and storage) on loopback.

    For source-controller, its storage folder ``flux/storage`` is made first."""
    args = [
        exe, f"--health-addr=127.0.0.1:{ports[name]}",
        f"--metrics-addr=127.0.0.1:{ports[name + '-metrics']}", "--events-addr=",
        "--watch-all-namespaces=true", "--log-level=info", "--log-encoding=json",
    ]  # fmt: skip
    if name == "source-controller":
        (home / "flux" / "storage").mkdir(parents=True, exist_ok=True)
        storage = f"127.0.0.1:{ports['source-controller-storage']}"
        args += [
            f"--storage-path={home / 'flux' / 'storage'}", f"--storage-addr={storage}",
            f"--storage-adv-addr={storage}",
        ]  # fmt: skip
    return args


def _documents(folder: Path) -> list[dict[str, Any]]:
    import yaml

    docs = []
    for path in sorted(folder.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def install_crds(api: Any, exes: dict[str, str]) -> None:
    """Create or update the CRDs of every controller and the namespace; wait until Established."""
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    ext: Any = k8s.ApiextensionsV1Api(api)
    core: Any = k8s.CoreV1Api(api)
    names = []
    for name in CONTROLLERS:
        for crd in _documents(crd_dir(exes[name])):
            names.append(crd["metadata"]["name"])
            try:
                ext.create_custom_resource_definition(body=crd)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                live = ext.read_custom_resource_definition(crd["metadata"]["name"])
                crd["metadata"]["resourceVersion"] = live.metadata.resource_version
                ext.replace_custom_resource_definition(crd["metadata"]["name"], body=crd)
    try:
        core.create_namespace(body={"metadata": {"name": NAMESPACE}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    deadline = time.monotonic() + _ESTABLISHED_TIMEOUT
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for crd_name in sorted(pending):
            conditions = ext.read_custom_resource_definition(crd_name).status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.discard(crd_name)
        time.sleep(0.2)
    if pending:
        raise PublishError(
            f"Flux's CRDs {', '.join(sorted(pending))} were not Established by the local API "
            f"server within {_ESTABLISHED_TIMEOUT:.0f} s; see .sandbox/cluster/logs/"
            "kube-apiserver.log."
        )
