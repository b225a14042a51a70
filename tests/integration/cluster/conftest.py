"""A real local control plane for the session, and scratch copies of the charts to deploy.

The cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) runs
under a temporary root on free ports of 127.0.0.1 and is stopped and deleted at the end.
Every test deploys into a namespace of its own.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from releasekit.deploy import cluster
from releasekit.deploy.kube import Kube
from releasekit.deploy.kube_env import KubeEnv
from tests.conftest import REPO, require

IMAGES = ("agent-runtime", "control-panel-api", "control-panel-web")
TOOLS = ("helm", "openssl", *cluster.COMPONENTS)


@pytest.fixture(scope="session", autouse=True)
def tools() -> None:
    for tool in TOOLS:
        require(tool)


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The root of a running local cluster, shared by the session."""
    root = tmp_path_factory.mktemp("cluster-root")
    cluster.up(root)
    try:
        yield root
    finally:
        cluster.down(root, purge=True)


def kube_env(cluster_root: Path, namespace: str | None = None) -> KubeEnv:
    """A Kubernetes environment on the local cluster of ``cluster_root`` with dev values."""
    kube = Kube(cluster.kubeconfig_path(cluster_root), cluster.CONTEXT)
    ns = namespace or f"t-{uuid.uuid4().hex[:10]}"
    return KubeEnv("test", "dev", ns, kube, local_root=cluster_root)


@pytest.fixture
def env(local_cluster: Path) -> KubeEnv:
    return kube_env(local_cluster)


@pytest.fixture
def charts_root(tmp_path: Path) -> Path:
    """A scratch root holding a copy of helm/, so version bumps and edits stay there."""
    shutil.copytree(REPO / "helm", tmp_path / "helm")
    return tmp_path


def digest(version: str, image: str) -> str:
    return "sha256:" + hashlib.sha256(f"{image}@{version}".encode()).hexdigest()


def release(root: Path, version: str, never_ready: tuple[str, ...] = ()) -> dict[str, str]:
    """Make ``version`` the charts' version and write its images.json; image -> digest.

    Images listed in ``never_ready`` are pushed under a ``never-ready/`` path, which the
    cluster's kwok keeps Pending in ImagePullBackOff.
    """
    for chart_yaml in (root / "helm").glob("*/Chart.yaml"):
        meta = yaml.safe_load(chart_yaml.read_text())
        meta["version"] = version
        meta["appVersion"] = version
        chart_yaml.write_text(yaml.safe_dump(meta, sort_keys=False))
    pins = {image: digest(version, image) for image in IMAGES}
    entries = {
        image: {
            "repository": f"127.0.0.1:5999/{'never-ready/' if image in never_ready else ''}"
            f"ironcage/{image}",
            "digest": pins[image],
        }
        for image in IMAGES
    }
    path = root / "dist" / version / "images.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries))
    return pins
