"""The real helm deploying the real charts: no cluster here, so dry runs render offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from releasekit import charts, helm_deploy, run
from tests.conftest import REPO
from tests.integration.helm.conftest import CHARTS

pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "d" * 64


@pytest.fixture
def no_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty kubeconfig: helm finds no cluster, whatever the machine has configured."""
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    monkeypatch.setenv("KUBECONFIG", str(config))


def test_helm_needs_a_cluster_even_for_a_client_dry_run(no_cluster: None) -> None:
    argv = helm_deploy.upgrade_argv(
        "control-panel", str(REPO / "helm/control-panel"), "ironcage-dev",
        REPO / "helm/control-panel/values-dev.yaml", [], dry_run=True,
    )  # fmt: skip
    result = run.run(argv, check=False, mutates=False)
    assert result.returncode != 0
    assert "Kubernetes cluster unreachable" in result.stderr


def test_deploy_dry_run_renders_the_pinned_release_offline(copy: Path, no_cluster: None) -> None:
    version = charts.find_charts(copy, "control-panel")[0].version
    images_json = copy / "dist" / version / "images.json"
    images_json.parent.mkdir(parents=True)
    images_json.write_text(
        json.dumps(
            {
                name: {"repository": f"127.0.0.1:5999/ironcage/{name}", "digest": DIGEST}
                for name in ("control-panel-api", "control-panel-web", "agent-runtime")
            }
        )
    )
    argvs = helm_deploy.deploy_argvs(copy, "staging", dry_run=True)
    assert [a[3] for a in argvs] == list(CHARTS)
    assert all(a[-1] == "--dry-run=client" for a in argvs)
    done = helm_deploy.deploy(argvs, copy)
    for item in done:
        assert item.note.startswith("no cluster reachable")
        docs = [d for d in yaml.safe_load_all(item.output) if d]
        containers = [
            c
            for d in docs
            if d["kind"] == "Deployment"
            for c in d["spec"]["template"]["spec"]["containers"]
            if c["name"] != "redis"  # a third-party image (redis.image), not one we release
        ]
        assert containers
        assert all(c["image"].startswith("127.0.0.1:5999/ironcage/") for c in containers)
        assert all(c["image"].endswith(f"@{DIGEST}") for c in containers)
