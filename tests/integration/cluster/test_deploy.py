"""Helm 4 deploying both charts into the real local cluster: pins, failures, rollback."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from releasekit.core.errors import PreflightError, PublishError, ToolError
from releasekit.deploy import helm as helm_deploy
from releasekit.deploy import helm_release, kube, rollout
from releasekit.deploy.kube import Kube
from releasekit.deploy.kube_env import KubeEnv
from releasekit.publish import third_party
from tests.integration.cluster.conftest import kube_env, release

pytestmark = pytest.mark.integration

CHARTS = ("agent-runtime", "control-panel")
FAIL_FAST = "12s"


def _deploy(root: Path, env: KubeEnv, version: str, **kwargs: str) -> list[helm_deploy.Outcome]:
    timeout = kwargs.get("timeout", helm_deploy.DEFAULT_TIMEOUT)
    return helm_deploy.deploy(root, env, helm_deploy.plan(root, env, version, timeout=timeout))


def _versions(root: Path, env: KubeEnv) -> dict[str, str | None]:
    return {r.release: r.version for r in rollout.check(root, env)}


def _settled(root: Path, env: KubeEnv, version: str, timeout: float = 60) -> list[str]:
    """The health problems left once the pods of a rolled-back rollout are gone (or timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        problems = [p for r in rollout.check(root, env, version) for p in r.problems]
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(1)


def _deployments(env: KubeEnv) -> dict[str, tuple[int, str]]:
    """Deployment name -> (generation, pod template hash of its newest ReplicaSet)."""
    apps = k8s.AppsV1Api(env.kube.api())
    found = {}
    for d in apps.list_namespaced_deployment(env.namespace).items:
        sets = [
            rs for rs in apps.list_namespaced_replica_set(env.namespace).items
            if any(o.name == d.metadata.name for o in rs.metadata.owner_references or [])
        ]  # fmt: skip
        newest = max(
            sets, key=lambda rs: int(rs.metadata.annotations["deployment.kubernetes.io/revision"])
        )
        found[d.metadata.name] = (d.metadata.generation, newest.metadata.name)
    return found


def test_the_charts_redis_runs_by_the_digest_its_release_recorded(
    charts_root: Path, env: KubeEnv
) -> None:
    release(charts_root, "1.0.0")
    served = "sha256:" + "7" * 64
    pin = third_party.ThirdPartyPin(
        "redis", "docker.io/library/redis:7.2-bookworm", "", "127.0.0.1:5999/ironcage/redis",
        served, "sha256:" + "e" * 64,
    )  # fmt: skip
    third_party.write(charts_root / "dist" / "1.0.0" / third_party.THIRD_PARTY_FILE, [pin])
    _deploy(charts_root, env, "1.0.0")
    live = [
        ref for w in kube.workloads(env.kube, env.namespace, "agent-runtime") for ref in w.images
    ]
    assert pin.ref in live
    health = rollout.check(charts_root, env, "1.0.0")
    assert all(r.ok for r in health), [r.problems for r in health]


def test_deploy_pins_the_released_digests_and_a_second_deploy_changes_nothing(
    charts_root: Path, env: KubeEnv
) -> None:
    pins = release(charts_root, "1.0.0")
    outcomes = _deploy(charts_root, env, "1.0.0")
    assert [(o.release, o.status, o.now) for o in outcomes] == [
        (name, "deployed", "1.0.0") for name in CHARTS
    ]
    assert rollout.live_images(charts_root, env, pins) == pins
    health = rollout.check(charts_root, env, "1.0.0")
    assert all(r.ok for r in health), [r.problems for r in health]
    assert {w.name for r in health for w in r.workloads} >= {"agent-runtime"}

    before = _deployments(env)
    history = helm_deploy.history(charts_root, env)
    again = _deploy(charts_root, env, "1.0.0")
    assert [o.status for o in again] == ["unchanged", "unchanged"]
    assert helm_deploy.history(charts_root, env) == history
    assert _deployments(env) == before


def test_an_upgrade_that_never_becomes_ready_rolls_back_and_names_both_versions(
    charts_root: Path, env: KubeEnv
) -> None:
    good = release(charts_root, "1.0.0")
    _deploy(charts_root, env, "1.0.0")
    release(charts_root, "1.1.0", never_ready=("agent-runtime",))
    with pytest.raises(PublishError, match=r"1\.1\.0.*agent-runtime.*previous version 1\.0\.0"):
        _deploy(charts_root, env, "1.1.0", timeout=FAIL_FAST)
    assert _versions(charts_root, env) == {"agent-runtime": "1.0.0", "control-panel": "1.0.0"}
    statuses = [r["status"] for r in helm_deploy.history(charts_root, env)["agent-runtime"]]
    assert statuses == ["superseded", "failed", "deployed"]
    assert rollout.live_images(charts_root, env, good) == good


def test_a_deploy_that_fails_half_way_leaves_every_chart_at_its_previous_version(
    charts_root: Path, env: KubeEnv
) -> None:
    good = release(charts_root, "2.0.0")
    _deploy(charts_root, env, "2.0.0")
    release(charts_root, "2.1.0", never_ready=("control-panel-web",))
    with pytest.raises(PublishError) as failed:
        _deploy(charts_root, env, "2.1.0", timeout=FAIL_FAST)
    message = str(failed.value)
    assert "failed at control-panel" in message
    assert "- agent-runtime: rolled back; now at 2.0.0" in message
    assert "- control-panel: failed; now at 2.0.0" in message
    assert _versions(charts_root, env) == {"agent-runtime": "2.0.0", "control-panel": "2.0.0"}
    assert rollout.live_images(charts_root, env, good) == good
    assert _settled(charts_root, env, "2.0.0") == []


def test_an_invalid_object_is_refused_by_the_api_server(charts_root: Path, env: KubeEnv) -> None:
    release(charts_root, "3.0.0")
    _deploy(charts_root, env, "3.0.0")
    values = charts_root / "helm" / "agent-runtime" / "values-dev.yaml"
    data = yaml.safe_load(values.read_text()) or {}
    data["podLabels"] = {"not a valid label key!": "x"}
    values.write_text(yaml.safe_dump(data))
    release(charts_root, "3.1.0")
    with pytest.raises(PublishError) as refused:
        _deploy(charts_root, env, "3.1.0")
    message = str(refused.value)
    assert 'Deployment.apps \\"agent-runtime\\" is invalid' in message
    assert (
        "failed at agent-runtime, which helm rolled back by itself to its previous version 3.0.0"
        in message
    )
    assert "- control-panel: not attempted; now at 3.0.0" in message
    assert _versions(charts_root, env)["agent-runtime"] == "3.0.0"


def test_rollback_restores_the_previous_version_then_any_earlier_one(
    charts_root: Path, env: KubeEnv
) -> None:
    first = release(charts_root, "4.0.0")
    _deploy(charts_root, env, "4.0.0")
    second = release(charts_root, "4.1.0")
    _deploy(charts_root, env, "4.1.0")
    assert rollout.live_images(charts_root, env, second) == second

    outcomes = helm_deploy.rollback(charts_root, env)
    assert [(o.release, o.previous, o.now) for o in outcomes] == [
        (name, "4.1.0", "4.0.0") for name in CHARTS
    ]
    assert rollout.live_images(charts_root, env, first) == first
    assert all(r.ok for r in rollout.check(charts_root, env, "4.0.0"))

    helm_deploy.rollback(charts_root, env, to="4.1.0")
    assert _versions(charts_root, env) == {"agent-runtime": "4.1.0", "control-panel": "4.1.0"}
    with pytest.raises(PublishError, match=r"no earlier revision at version 9\.9\.9"):
        helm_deploy.rollback(charts_root, env, to="9.9.9")


def test_without_the_local_cluster_the_deploy_says_how_to_start_it(
    charts_root: Path, tmp_path: Path
) -> None:
    release(charts_root, "5.0.0")
    stopped = kube_env(tmp_path / "no-cluster-here")
    with pytest.raises(PreflightError, match=r"invoke cluster\.up"):
        helm_deploy.deploy(charts_root, stopped, helm_deploy.plan(charts_root, stopped, "5.0.0"))


def test_a_server_dry_run_without_any_cluster_names_what_it_needs(
    charts_root: Path, tmp_path: Path
) -> None:
    release(charts_root, "5.0.0")
    empty = tmp_path / "kubeconfig"
    empty.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    env = KubeEnv("staging", "staging", "ironcage-staging", Kube(empty, None))
    upgrades = helm_deploy.plan(charts_root, env, "5.0.0", dry_run="server")
    assert all(u.argv[-1] == "--dry-run=server" for u in upgrades)
    with pytest.raises(ToolError, match=r"needs a Kubernetes cluster.*invoke cluster\.up"):
        helm_deploy.deploy(charts_root, env, upgrades)


def _helm_upgrading(namespace: str, release: str) -> int | None:
    """The pid of a running ``helm upgrade`` of ``release`` into ``namespace``, if any."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if (
            words
            and Path(words[0]).name == "helm"
            and "upgrade" in words
            and release in words
            and namespace in words
        ):
            return int(entry.name)
    return None


def _status(env: KubeEnv, release: str) -> str:
    revisions = helm_release.revisions(env, release)
    return str(revisions[-1]["status"]) if revisions else ""


def test_a_helm_killed_mid_upgrade_is_reported_pending_and_the_next_deploy_recovers_it(
    charts_root: Path, env: KubeEnv
) -> None:
    release(charts_root, "6.0.0")
    _deploy(charts_root, env, "6.0.0")
    release(charts_root, "6.1.0", never_ready=("agent-runtime",))
    upgrades = helm_deploy.plan(charts_root, env, "6.1.0")
    failures: list[str] = []

    def deploy() -> None:
        try:
            helm_deploy.deploy(charts_root, env, upgrades)
        except PublishError as exc:
            failures.append(str(exc))

    worker = threading.Thread(target=deploy)
    worker.start()
    deadline = time.monotonic() + 120
    pid = None
    while time.monotonic() < deadline and worker.is_alive():
        pid = _helm_upgrading(env.namespace, "agent-runtime")
        if pid is not None and _status(env, "agent-runtime") == "pending-upgrade":
            break
        time.sleep(0.2)
    assert pid is not None, "helm upgrade never started"
    os.kill(pid, signal.SIGKILL)
    worker.join(timeout=120)
    message = failures[0]
    assert "failed at agent-runtime, which helm left pending-upgrade at revision 2" in message
    assert "helm was killed by signal 9" in message
    assert "rolled back by itself" not in message
    assert "- agent-runtime: failed; now at 6.0.0 (revision 2 pending-upgrade)" in message
    assert "- control-panel: not attempted; now at 6.0.0" in message

    fixed = release(charts_root, "6.1.0")
    said: list[str] = []
    outcomes = helm_deploy.deploy(
        charts_root, env, helm_deploy.plan(charts_root, env, "6.1.0"), say=said.append
    )
    assert [(o.release, o.status, o.now) for o in outcomes] == [
        (name, "deployed", "6.1.0") for name in CHARTS
    ]
    assert said == [
        "agent-runtime: revision 2 was left pending-upgrade by a helm that did not finish; "
        "rolled back to 6.0.0 (revision 1, now revision 3 deployed) before the upgrade"
    ]
    # helm keeps the killed revision as it was; what counts is that it is no longer the last.
    history = helm_deploy.history(charts_root, env)["agent-runtime"]
    assert [(r["revision"], r["status"], r["app_version"]) for r in history][1:] == [
        (2, "pending-upgrade", "6.1.0"),
        (3, "superseded", "6.0.0"),
        (4, "deployed", "6.1.0"),
    ]
    assert rollout.live_images(charts_root, env, fixed) == fixed
