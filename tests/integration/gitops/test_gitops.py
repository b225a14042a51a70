"""Release, promote, roll back and drift, by commit, with the real Flux controllers.

One control plane, one registry and one git server serve the module (``world``); the tests
run in order, each starting from what the one before left in the environments. The last
one deploys a partial independent release: each chart at its own version.
test_gitops_faults.py runs beside it on a world of its own.
"""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client as k8s

from releasekit.core.errors import PublishError
from releasekit.deploy import gitops, gitops_status, rollout
from releasekit.deploy.gitops_repo import checkout
from releasekit.deploy.kube_env import KubeEnv
from tests.integration.gitops.conftest import IMAGES, TIMEOUT, World, commits, running_images

pytestmark = pytest.mark.integration

DRIFT_BOUND = 150.0


def test_a_release_to_dev_converges_at_its_commit(world: World) -> None:
    desired = world.publish("1.0.0")
    start = time.monotonic()
    applied = gitops.release(world.root, world.env("dev"), desired, world.trust, print, TIMEOUT)
    print(f"pushed to Ready: {time.monotonic() - start:.1f} s")
    assert commits(world)[0] == f"{applied.commit} deploy(dev): ironcage 1.0.0"
    assert applied.observed.applied.endswith(applied.commit)
    assert {r.name: (r.running, r.ready) for r in applied.observed.releases} == {
        "agent-runtime": ("1.0.0", True), "control-panel": ("1.0.0", True),
    }  # fmt: skip
    running = running_images(world, "dev")
    for digest in desired.images().values():
        assert any(ref.endswith(f"@{digest}") for ref in running), (digest, running)


def test_promote_copies_exactly_the_digests_dev_runs_as_one_commit(world: World) -> None:
    before = commits(world)
    applied = gitops.promote(
        world.root, world.env("dev"), world.env("staging"), world.trust, print, "1.0.0", TIMEOUT
    )
    after = commits(world)
    assert after[1:] == before
    assert after[0] == f"{applied.commit} promote(staging): ironcage 1.0.0 from dev"
    pinned = {ref.partition("@")[2] for ref in running_images(world, "dev")}
    assert {ref.partition("@")[2] for ref in running_images(world, "staging")} == pinned


def test_promote_refuses_what_the_source_does_not_run(world: World) -> None:
    with pytest.raises(
        PublishError, match=r"Refusing to promote 9\.9\.9 from dev: dev runs 1\.0\.0"
    ):
        gitops.promote(world.root, world.env("dev"), world.env("prod"), world.trust, print,
                       "9.9.9", TIMEOUT)  # fmt: skip


def test_a_pre_release_to_dev_leaves_staging_untouched(world: World) -> None:
    staging = running_images(world, "staging")
    desired = world.publish("1.1.0-rc.1")
    applied = gitops.release(world.root, world.env("dev"), desired, world.trust, print, TIMEOUT)
    assert {r.running for r in applied.observed.releases} == {"1.1.0-rc.1"}
    assert running_images(world, "staging") == staging
    rows = {r.env: r for r in gitops_status.status(world.root)}
    assert (rows["dev"].desired_version, rows["dev"].ready) == ("1.1.0-rc.1", True)
    assert (rows["staging"].desired_version, rows["staging"].ready) == ("1.0.0", True)


def test_rollback_is_a_commit_back_to_the_previous_state(world: World) -> None:
    applied = gitops.rollback(world.root, world.env("dev"), print, timeout=TIMEOUT)
    assert applied.version == "1.0.0"
    assert commits(world)[0].startswith(f"{applied.commit} rollback(dev): ironcage 1.0.0")
    assert {r.running for r in applied.observed.releases} == {"1.0.0"}


def test_a_deployment_scaled_by_hand_is_put_back(world: World) -> None:
    env = world.env("dev")
    apps = k8s.AppsV1Api(env.kube.api())
    name = apps.list_namespaced_deployment(env.namespace).items[0].metadata.name
    released = apps.read_namespaced_deployment(name, env.namespace).spec.replicas
    apps.patch_namespaced_deployment_scale(name, env.namespace, {"spec": {"replicas": 4}})
    seen = gitops_status.drift(env, ["agent-runtime", "control-panel"])
    assert any(f"{name}: 4 replicas, released {released}" in line for line in seen), seen
    deadline = time.monotonic() + DRIFT_BOUND
    while apps.read_namespaced_deployment(name, env.namespace).spec.replicas != released:
        assert time.monotonic() < deadline, f"{name} still scaled after {DRIFT_BOUND} s"
        time.sleep(2)
    assert gitops_status.drift(env, ["agent-runtime", "control-panel"]) == []


def _ours(world: World, env: str) -> set[str]:
    """The digests the live workloads of ``env`` run for the release's own images."""
    return {
        ref.partition("@")[2] for ref in running_images(world, env)
        if ref.partition("@")[0].rsplit("/", 1)[-1] in IMAGES
    }  # fmt: skip


def test_a_partial_release_runs_each_chart_at_its_version_and_promotes_as_is(
    world: World,
) -> None:
    versions = {"agent-runtime": "1.0.1", "control-panel": "1.0.0"}
    desired = world.publish_partial("agent-runtime-1.0.1", versions, kept="1.0.0")
    kept = json.loads((world.root / "dist/1.0.0/images.json").read_text())
    new = json.loads((world.root / "dist/agent-runtime-1.0.1/images.json").read_text())
    assert new["agent-runtime"]["digest"] != kept["agent-runtime"]["digest"]
    expected = {new["agent-runtime"]["digest"], kept["control-panel-api"]["digest"],
                kept["control-panel-web"]["digest"]}  # fmt: skip
    assert (desired.versions(), set(desired.images().values())) == (versions, expected)

    applied = gitops.release(world.root, world.env("dev"), desired, world.trust, print, TIMEOUT)
    assert commits(world)[0] == f"{applied.commit} deploy(dev): ironcage agent-runtime-1.0.1"
    copy = checkout(world.root, gitops.repository_url(world.root, world.env("dev")), "main")
    assert copy.git("log", "-1", "--format=%b").split() == [
        "agent-runtime", "1.0.1", "control-panel", "1.0.0",
    ]  # fmt: skip
    assert applied.observed.at(applied.commit)
    assert {r.name: (r.running, r.ready) for r in applied.observed.releases} == {
        "agent-runtime": ("1.0.1", True), "control-panel": ("1.0.0", True),
    }  # fmt: skip
    assert _ours(world, "dev") == expected
    dev = world.env("dev")
    kenv = KubeEnv(dev.name, dev.values, dev.namespace, dev.kube, dev.local_root)
    health = rollout.check(world.root, kenv, versions)
    assert [(r.release, r.version, r.problems) for r in health] == [
        ("agent-runtime", "1.0.1", ()), ("control-panel", "1.0.0", ()),
    ]  # fmt: skip
    rows = {r.env: r for r in gitops_status.status(world.root)}
    assert (rows["dev"].desired_version, rows["dev"].ready) == ("agent-runtime-1.0.1", True)

    before = commits(world)
    promoted = gitops.promote(world.root, dev, world.env("staging"), world.trust, print,
                              "agent-runtime-1.0.1", TIMEOUT)  # fmt: skip
    after = commits(world)
    assert after[1:] == before
    assert after[0] == (
        f"{promoted.commit} promote(staging): ironcage agent-runtime-1.0.1 from dev"
    )
    assert {r.name: (r.running, r.ready) for r in promoted.observed.releases} == {
        "agent-runtime": ("1.0.1", True), "control-panel": ("1.0.0", True),
    }  # fmt: skip
    staging = gitops.desired_of(copy, world.env("staging"), promoted.commit)
    assert staging is not None
    assert (staging.versions(), staging.images()) == (versions, desired.images())
    assert [c.digest for c in staging.charts] == [c.digest for c in desired.charts]
    assert _ours(world, "staging") == expected
