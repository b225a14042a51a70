"""What GitOps refuses, survives and remediates, with the real Flux controllers.

The module has a world of its own (``world``: control plane, Flux, registry, git server),
so it runs beside test_gitops.py. It starts from 1.0.0 released to dev (``released``); the
tests then run in order, each from what the one before left in the environments.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest

from releasekit.core.errors import PreflightError, PublishError, VerificationError
from releasekit.deploy import cluster, gitops, gitops_status
from releasekit.deploy.gitops_layout import render
from releasekit.deploy.gitops_repo import checkout
from releasekit.publish import signing
from tests.integration.gitops.conftest import TIMEOUT, World

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("released")]


@pytest.fixture(scope="module")
def released(world: World) -> None:
    """1.0.0 released to dev, as test_gitops.py's first test leaves it."""
    applied = gitops.release(
        world.root, world.env("dev"), world.publish("1.0.0"), world.trust, print, TIMEOUT
    )
    assert {r.running for r in applied.observed.releases} == {"1.0.0"}


def test_a_chart_signed_by_another_key_is_refused_by_name(world: World, tmp_path: Path) -> None:
    other, public, password = signing.ensure_key_pair(tmp_path / "other")
    desired = world.publish("1.2.0", key=signing.SigningKey(str(other), public, password))
    with pytest.raises(VerificationError, match="chart control-panel"):
        gitops.release(world.root, world.env("dev"), desired, world.trust, print, TIMEOUT)


def test_a_stopped_controller_is_named_and_after_cluster_up_nothing_is_lost(world: World) -> None:
    home = world.root / cluster.CLUSTER_DIR
    pid = json.loads((home / "state.json").read_text())["pids"]["helm-controller"]
    os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    with pytest.raises(
        PreflightError,
        match=r"helm-controller of the local cluster is not running.*invoke cluster.up",
    ):
        gitops.promote(world.root, world.env("dev"), world.env("prod"), world.trust, print,
                       timeout=TIMEOUT)  # fmt: skip
    cluster.up(world.root)
    rows = {r.env: r for r in gitops_status.status(world.root)}
    assert (rows["dev"].desired_version, rows["dev"].ready) == ("1.0.0", True)
    applied = gitops.promote(world.root, world.env("dev"), world.env("prod"), world.trust, print,
                             timeout=TIMEOUT)  # fmt: skip
    assert {r.running for r in applied.observed.releases} == {"1.0.0"}


def test_an_upgrade_that_never_becomes_ready_is_remediated_and_named(world: World) -> None:
    desired = world.publish("1.3.0", never_ready=("control-panel-api",))
    with pytest.raises(PublishError, match=r"remediated it\. HelmRelease control-panel: .*"
                       r"it runs 1\.0\.0, desired 1\.3\.0") as caught:  # fmt: skip
        gitops.release(world.root, world.env("dev"), desired, world.trust, print, TIMEOUT)
    print(caught.value)
    rows = {r.env: r for r in gitops_status.status(world.root, "dev")}
    assert rows["dev"].desired_version == "1.3.0"
    assert not rows["dev"].ready
    running = {r.name: r.running for r in rows["dev"].releases}
    assert running["control-panel"] == "1.0.0"


def test_a_chart_signed_by_another_key_committed_anyway_is_refused_by_flux(
    world: World, tmp_path: Path
) -> None:
    env = world.env("dev")
    before = {r.name: r.running for r in gitops_status.status(world.root, "dev")[0].releases}
    other, public, password = signing.ensure_key_pair(tmp_path / "other")
    desired = world.publish("1.5.0", key=signing.SigningKey(str(other), public, password))
    copy = checkout(world.root, gitops.repository_url(world.root, env), "main")
    files = render(world.root, env, desired, world.trust.public.read_text())
    commit = copy.write(env.path, files, "deploy(dev): ironcage 1.5.0 (not checked)")
    with pytest.raises(PublishError, match=r"Flux refused the chart's signature: OCIRepository "
                       r"ironcage-dev/agent-runtime: .*no matching signatures"):  # fmt: skip
        gitops._converge(world.root, env, copy, copy.url, desired, commit, TIMEOUT, print)
    after = {r.name: r.running for r in gitops_status.status(world.root, "dev")[0].releases}
    assert after == before
