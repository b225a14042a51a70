"""A whole `invoke release --env cluster` into the local cluster, in a fresh copy of the repo.

The `cluster` session tests deploys, rollbacks and failures against the API server; this
one release, from the commit to the live Deployments, is part of the e2e session. Its
deploy is an upgrade of charts installed before, and the helm doing it is killed while the
revision is pending-upgrade: the release says so, and `invoke release --resume` (no flags)
recovers the chart and finishes the deploy.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from releasekit.build.images.buildkit import STATE_ENV as BUILDKIT_STATE
from releasekit.deploy import cluster, helm_release, kube_env, testbed
from releasekit.deploy import helm as helm_deploy
from releasekit.deploy.kube_env import KubeEnv
from tests.conftest import copy_repo, git, narrow_platforms, require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def _invoke(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RELEASEKIT_") or k == BUILDKIT_STATE
    }
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    env["PILOT_PROJECT"] = f"ironcage-cluster-{testbed.free_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=repo, env=env, capture_output=True,
        text=True, timeout=1500, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(
            f"invoke {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def _json(repo: Path, *args: str) -> Any:
    return json.loads(_invoke(repo, *args, "--json").stdout)


def _install_before(repo: Path, version: str) -> KubeEnv:
    """Both charts of ``version`` installed from the tree, with stand-in image digests."""
    entries = {
        image: {
            "repository": f"127.0.0.1:5999/ironcage/{image}",
            "digest": "sha256:" + hashlib.sha256(image.encode()).hexdigest(),
        }
        for image in ("agent-runtime", "control-panel-api", "control-panel-web")
    }
    pins = repo / "dist" / version / "images.json"
    pins.parent.mkdir(parents=True, exist_ok=True)
    pins.write_text(json.dumps(entries))
    env = kube_env.resolve(repo, "cluster")
    outcomes = helm_deploy.deploy(repo, env, helm_deploy.plan(repo, env, version))
    assert [o.status for o in outcomes] == ["deployed", "deployed"]
    return env


def _schedulable(env: KubeEnv, yes: bool) -> None:
    """Cordon (or uncordon) the cluster's node: new pods stay Pending while it is cordoned."""
    from kubernetes import client as k8s

    k8s.CoreV1Api(env.kube.api()).patch_node(cluster.NODE, {"spec": {"unschedulable": not yes}})


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rpartition(")")[2].split()[1])
    return False


def _helm_upgrade_of(release: str, ancestor: int) -> int | None:
    """The pid of the ``helm upgrade`` of ``release`` that process ``ancestor`` runs, if any."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if (
            Path(words[0]).name == "helm"
            and "upgrade" in words
            and release in words
            and _descends(int(entry.name), ancestor)
        ):
            return int(entry.name)
    return None


def _kill_helm_when_pending(repo: Path, env: KubeEnv) -> str:
    """Release with the node cordoned; SIGKILL helm once its revision is pending-upgrade.

    Returns the release's output; the release must fail at its deploy step.
    """
    out = repo.parent / "killed-helm.log"
    invoke_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RELEASEKIT_") or k == BUILDKIT_STATE
    }
    invoke_env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    with out.open("w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", "release", "--env", "cluster", "--yes"], cwd=repo,
            env=invoke_env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 1500
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            pid = _helm_upgrade_of("agent-runtime", proc.pid)
            revisions = helm_release.revisions(env, "agent-runtime") if pid else []
            if pid and revisions and revisions[-1]["status"] == "pending-upgrade":
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.5)
        assert proc.wait(timeout=600) != 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    return out.read_text()


def test_a_release_deploys_both_charts_pinned_to_the_pushed_digests(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    for tool in ("docker", "helm", "terraform", "docker-registry"):
        require(tool)
    repo = copy_repo(tmp_path_factory.mktemp("cluster-release") / "repo")
    narrow_platforms(repo)  # both platforms: test_split_release and the docker session
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "cluster@example.com")
    git(repo, "config", "user.name", "cluster")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feat: a release into the local cluster")
    try:
        _invoke(repo, "sandbox.up", "--cluster")
        chart_yaml = repo / "helm" / "agent-runtime" / "Chart.yaml"
        before = str(yaml.safe_load(chart_yaml.read_text())["appVersion"])
        env = _install_before(repo, before)
        _schedulable(env, False)
        try:
            failed = _kill_helm_when_pending(repo, env)
        finally:
            _schedulable(env, True)
        assert "failed at agent-runtime, which helm left pending-upgrade at revision 2" in failed
        assert "helm was killed by signal 9" in failed
        assert "rolled back by itself" not in failed
        assert "stopped at step `deploy`" in failed
        resumed = _invoke(repo, "release", "--resume", "--yes")
        assert (
            "agent-runtime: revision 2 was left pending-upgrade by a helm that did not finish; "
            f"rolled back to {before} (revision 1, now revision 3 deployed) before the upgrade"
        ) in resumed.stdout + resumed.stderr
        version = str(yaml.safe_load(chart_yaml.read_text())["appVersion"])
        assert version != before
        record = json.loads((repo / "dist" / version / "release.json").read_text())

        history = _json(repo, "helm.history", "--env", "cluster")
        assert sorted(history) == ["agent-runtime", "control-panel"]
        for revisions in history.values():
            assert revisions[-1]["status"] == "deployed"
            assert revisions[-1]["app_version"] == version

        health = _json(repo, "health", "--env", "cluster", "--version", version)
        pushed = {name: entry["digest"] for name, entry in record["images"].items()}
        # Every image the release built runs by the digest it pushed.
        live = {
            image.partition("@")[0].rsplit("/", 1)[-1]: image.partition("@")[2]
            for r in health
            for w in r["workloads"]
            for image in w["images"]
            if image.partition("@")[0].rsplit("/", 1)[-1] in pushed
        }
        assert live and all(pushed[name] == digest for name, digest in live.items())
        assert set(live) == {"agent-runtime", "control-panel-api", "control-panel-web"}
        # The chart's Redis runs by the digest the release recorded in its registry.
        redis = record["third_party"]["redis"]
        running = {image for r in health for w in r["workloads"] for image in w["images"]}
        assert f"{redis['repository']}@{redis['digest']}" in running

        again = _json(repo, "deploy", "--env", "cluster", "--version", version)
        assert [o["status"] for o in again] == ["unchanged", "unchanged"]
    finally:
        subprocess.run(
            [sys.executable, "-m", "invoke", "sandbox.down", "--purge"], cwd=repo,
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip
