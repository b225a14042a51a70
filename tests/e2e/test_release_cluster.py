"""A whole `invoke release --env cluster` into the local cluster, in a fresh copy of the repo.

The `cluster` session tests deploys, rollbacks and failures against the API server; this
one release, from the commit to the live Deployments, is part of the e2e session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from releasekit.deploy import testbed
from tests.conftest import copy_repo, git, require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def _invoke(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEKIT_")}
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


def test_a_release_deploys_both_charts_pinned_to_the_pushed_digests(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    for tool in ("docker", "helm", "terraform", "docker-registry"):
        require(tool)
    repo = copy_repo(tmp_path_factory.mktemp("cluster-release") / "repo")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "cluster@example.com")
    git(repo, "config", "user.name", "cluster")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feat: a release into the local cluster")
    try:
        _invoke(repo, "sandbox.up", "--cluster")
        _invoke(repo, "release", "--env", "cluster", "--yes")
        chart = yaml.safe_load((repo / "helm" / "agent-runtime" / "Chart.yaml").read_text())
        version = str(chart["appVersion"])
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
