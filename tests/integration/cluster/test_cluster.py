"""The local control plane itself: start, status, RBAC, restart with its data, after a kill."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from releasekit.core.errors import PreflightError
from releasekit.core.run import run
from releasekit.deploy import cluster
from releasekit.deploy.kube import Kube

pytestmark = pytest.mark.integration


def _api(root: Path, identity: str = "kubeconfig") -> k8s.CoreV1Api:
    return k8s.CoreV1Api(Kube(root / cluster.CLUSTER_DIR / identity, cluster.CONTEXT).api())


def test_up_status_restart_and_kill(tmp_path: Path) -> None:
    root = tmp_path
    try:
        state = cluster.up(root)
        assert state.alive and state.nodes_ready == 1
        assert [c.name for c in state.components] == list(cluster.COMPONENTS)
        assert all("127.0.0.1" in c.url for c in state.components)
        assert state.server.startswith("https://127.0.0.1:")

        api = _api(root)
        node = api.read_node(cluster.NODE)
        assert node.metadata.annotations["kwok.x-k8s.io/node"] == "fake"
        api.create_namespace({"metadata": {"name": "keep"}})
        api.create_namespaced_config_map("keep", {"metadata": {"name": "data"}, "data": {"a": "1"}})

        # RBAC is on: the scheduler's identity may not create namespaces.
        with pytest.raises(ApiException) as refused:
            _api(root, "scheduler.kubeconfig").create_namespace({"metadata": {"name": "nope"}})
        assert refused.value.status == 403

        # Stopped and started again: same port, same data.
        cluster.down(root)
        with pytest.raises(PreflightError, match=r"invoke cluster\.up"):
            cluster.running(root)
        again = cluster.up(root)
        assert again.server == state.server
        assert _api(root).read_namespaced_config_map("data", "keep").data == {"a": "1"}

        # Killed without warning: up starts every server again, cleanly.
        pids = json.loads((root / cluster.CLUSTER_DIR / "state.json").read_text())["pids"]
        for pid in pids.values():
            os.killpg(pid, signal.SIGKILL)
        assert not cluster.status(root).alive
        revived = cluster.up(root)
        assert revived.alive
        assert _api(root).read_namespaced_config_map("data", "keep").data == {"a": "1"}
    finally:
        cluster.down(root, purge=True)
    assert not (root / cluster.CLUSTER_DIR).exists()


def test_helm_test_pods_complete_and_never_ready_images_stay_pending(
    local_cluster: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 7.3.1\n")
    (chart / "templates" / "test.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe-test\n"
        "  annotations:\n    helm.sh/hook: test\n"
        "spec:\n  restartPolicy: Never\n  containers:\n    - name: t\n      image: probe:1\n"
    )
    (chart / "templates" / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: stuck\n"
        "spec:\n  containers:\n    - name: t\n      image: probe:1.0.0-never-ready\n"
    )
    api = _api(local_cluster)
    api.create_namespace({"metadata": {"name": "probe"}})
    deadline = time.monotonic() + 30  # a bare pod needs the namespace's default account
    while not api.list_namespaced_service_account("probe").items and time.monotonic() < deadline:
        time.sleep(0.2)
    env = {"KUBECONFIG": str(cluster.kubeconfig_path(local_cluster))}
    run(["helm", "install", "probe", str(chart), "-n", "probe"], env=env)
    tested = run(["helm", "test", "probe", "-n", "probe", "--timeout", "60s"], env=env)
    assert "Phase:          Succeeded" in tested.stdout

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stuck = api.read_namespaced_pod("stuck", "probe")
        if stuck.status.container_statuses:
            break
        time.sleep(0.5)
    waiting = stuck.status.container_statuses[0].state.waiting
    assert (stuck.status.phase, waiting.reason) == ("Pending", "ImagePullBackOff")
    assert not stuck.status.container_statuses[0].ready
