"""An independent release published for real into the sandbox, in a copy of this repository.

The copy (at 0.1.0) is released once under lockstep (0.2.0: every package, every image),
then switched to ``independent``. A ``fix(marketing-site)`` commit then releases only
marketing-site: its site tarball and image, tagged ``marketing-site-v0.2.1`` with the release
commit in one atomic push; nothing reaches the index, no other image tag moves, and the
release's images.json still pins every image (the others at their 0.2.0 digests), and its
deploy into the local cluster runs a complete set: both charts, at the 0.2.0 their packages
last released (pulled from the sandbox's chart registry), every image by its digest. A
``feat(sandbox)`` commit then releases sandbox (minor) and its dependents agent-runtime and
cli (patch, pins rewritten), killed after every step and resumed, then run again without its
state into the compose pilot: each file reaches the index once, one tag per package, and the
pilot runs agent-runtime's new image beside the control panel's kept ones, each by its
digest, its API answering the 0.2.0 the control panel last released. A
``fix(agent-runtime)`` released into the GitOps environment dev runs agent-runtime's chart
at 0.2.2 and control-panel's at 0.2.0, and is promoted to staging as is.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from releasekit.deploy import gitops_env, kube_env, rollout
from releasekit.deploy.pilot_pins import PILOT_IMAGES
from tests.e2e.test_release import IMAGES, Repo, _index, git, sandbox_repo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

RELEASE_ID = "marketing-site-0.2.1"


def _pilot_digests(repo: Repo) -> dict[str, str]:
    """Service -> the digest its container of the repository's pilot runs."""
    import docker

    label = f"com.docker.compose.project={repo.env()['PILOT_PROJECT']}"
    running = docker.from_env().containers.list(filters={"label": label})
    return {
        c.labels["com.docker.compose.service"]: c.attrs["Config"]["Image"].split("@", 1)[1]
        for c in running
    }


def _tags(host: str) -> dict[str, list[str]]:
    import urllib.request

    found = {}
    for image in IMAGES:
        with urllib.request.urlopen(f"http://{host}/v2/ironcage/{image}/tags/list") as answer:
            found[image] = sorted(json.loads(answer.read())["tags"])
    return found


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    r = sandbox_repo(
        tmp_path_factory.mktemp("e2e-independent-release"),
        "docker-registry", "terraform", "helm", "docker-compose",
    )  # fmt: skip
    r.invoke("sandbox.up", "--cluster")
    r.invoke("release", "--yes", "--env", "none")
    manifest = r.path / "release.toml"
    text = manifest.read_text().replace('policy = "lockstep"', 'policy = "independent"')
    manifest.write_text(text)
    git(r.path, "commit", "-qam", "chore: release each package on its own")
    yield r
    r.invoke("sandbox.down", "--purge", ok=False)


def test_a_fix_of_the_site_releases_only_the_site(released: Repo) -> None:
    repo = released
    host = repo.sandbox()["registry_host"]
    before = json.loads((repo.path / "dist/0.2.0/images.json").read_text())
    tags, index = _tags(host), _index(repo)
    repo.commit("packages/marketing-site/README.md", "fix(marketing-site): a typo")
    out = repo.invoke("release", "--yes", "--env", "cluster").stdout
    assert RELEASE_ID in out

    remote = repo.path / ".sandbox/remote.git"
    assert git(remote, "tag", "--list", "*-v*").split() == ["marketing-site-v0.2.1"]
    head = git(repo.path, "rev-parse", "HEAD")
    assert git(remote, "rev-parse", "main") == head
    assert git(remote, "rev-parse", "marketing-site-v0.2.1^{commit}") == head
    assert git(remote, "cat-file", "-t", "marketing-site-v0.2.1") == "tag"  # annotated
    subject = git(repo.path, "log", "-1", "--format=%s")
    assert subject == "chore(release): marketing-site-v0.2.1"

    assert _index(repo) == index  # nothing reaches the index
    now = _tags(host)
    for image in IMAGES:
        if image == "marketing-site":
            assert {"0.2.1", "0.2", "0", "latest"} <= set(now[image])
        else:
            assert now[image] == tags[image]  # no other image is pushed

    folder = repo.path / "dist" / RELEASE_ID
    assert sorted(p.name for p in (folder / "site").iterdir()) == ["marketing-site-0.2.1.tar.gz"]
    assert not (folder / "python").exists() and not (folder / "bin").exists()
    images = json.loads((folder / "images.json").read_text())
    assert sorted(images) == sorted(IMAGES)  # a deploy runs the complete set
    for image in IMAGES:
        if image != "marketing-site":
            assert images[image]["digest"] == before[image]["digest"]
    assert images["marketing-site"]["digest"] != before["marketing-site"]["digest"]
    assert images["marketing-site"]["tags"][0] == "0.2.1"
    deployed = subprocess.run(
        ["terraform", "-chdir=terraform/environments/local", "output", "-json", "image_digests"],
        cwd=repo.path, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert json.loads(deployed) == {name: pin["digest"] for name, pin in images.items()}
    # Every chart runs, each at its package's last release, every image at its digest.
    env = kube_env.resolve(repo.path, "cluster")
    health = rollout.check(repo.path, env, {"agent-runtime": "0.2.0", "control-panel": "0.2.0"})
    assert [(h.release, h.version, h.ok) for h in health] == [
        ("agent-runtime", "0.2.0", True),
        ("control-panel", "0.2.0", True),
    ]
    charted = {"agent-runtime", "control-panel-api", "control-panel-web"}
    live = rollout.live_images(repo.path, env, charted)
    assert live == {name: before[name]["digest"] for name in charted}

    record: dict[str, Any] = json.loads((folder / "release.json").read_text())
    assert record["version"] == RELEASE_ID
    assert record["packages"] == {
        "marketing-site": {"version": "0.2.1", "tag": "marketing-site-v0.2.1"}
    }
    assert sorted(record["images"]) == ["marketing-site"]
    assert sorted(record["kept"]) == sorted(i for i in IMAGES if i != "marketing-site")

    changelog = (repo.path / "packages/marketing-site/CHANGELOG.md").read_text()
    assert "## 0.2.1" in changelog and "a typo" in changelog
    assert not (repo.path / "packages/sandbox/CHANGELOG.md").exists()
    versions = git(repo.path, "show", "--stat", "--format=", "HEAD")
    assert "packages/marketing-site" in versions and "packages/sandbox" not in versions

    repo.invoke("verify", "--package", "marketing-site", "--version", "0.2.1")


def test_a_feature_of_the_sandbox_releases_its_dependents(released: Repo) -> None:
    import zipfile

    repo = released
    host = repo.sandbox()["registry_host"]
    site = json.loads((repo.path / f"dist/{RELEASE_ID}/images.json").read_text())
    tags, index = _tags(host), _index(repo)
    repo.commit("packages/sandbox/README.md", "feat(sandbox): a memory limit")
    # Killed after every step up to signing and resumed; then run again without its state.
    first = repo.invoke(
        "release", "--yes", "--env", "none", ok=False, RELEASEKIT_FAULT="kill-after:version"
    )
    assert first.returncode == -9, first.stderr
    for step in ("prepare", "build", "verify", "tag", "publish-python", "publish-images", "sign"):
        killed = repo.invoke(
            "release", "--resume", "--yes", ok=False, RELEASEKIT_FAULT=f"kill-after:{step}"
        )
        assert killed.returncode == -9, killed.stderr
        assert step in repo.state()["steps"]
    (repo.path / "build/release/state.json").unlink()
    again = repo.invoke("release", "--yes", "--env", "pilot")
    assert "finishing that release" in again.stdout + again.stderr
    assert repo.state()["complete"] is True

    release_id = "sandbox-0.3.0+agent-runtime-0.2.1+cli-0.2.1"
    remote = repo.path / ".sandbox/remote.git"
    assert sorted(git(remote, "tag", "--list", "*-v*").split()) == [
        "agent-runtime-v0.2.1",
        "cli-v0.2.1",
        "marketing-site-v0.2.1",
        "sandbox-v0.3.0",
    ]
    added = sorted(set(_index(repo)) - set(index))
    assert [name.split("-")[0] for name in added] == ["ironcage_agent_runtime"] * 2 + [
        "ironcage_cli"
    ] * 2 + ["ironcage_sandbox"] * 2
    folder = repo.path / "dist" / release_id
    wheel = next((folder / "python").glob("ironcage_cli-0.2.1-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read("ironcage_cli-0.2.1.dist-info/METADATA").decode()
    assert "Requires-Dist: ironcage-sandbox==0.3.0" in meta  # the pin followed

    now = _tags(host)
    assert "0.2.1" in now["agent-runtime"]
    for image in ("control-panel-api", "control-panel-web", "marketing-site"):
        assert now[image] == tags[image]  # untouched
    images = json.loads((folder / "images.json").read_text())
    assert sorted(images) == sorted(IMAGES)
    for image in ("control-panel-api", "control-panel-web", "marketing-site"):
        assert images[image]["digest"] == site[image]["digest"]
    assert images["agent-runtime"]["tags"][0] == "0.2.1"
    verdict = json.loads(repo.invoke("health", "--env", "pilot", "--json").stdout)
    assert (verdict["ok"], verdict["version"]) == (True, "0.2.0")  # the control panel kept
    assert _pilot_digests(repo) == {name: images[name]["digest"] for name in PILOT_IMAGES}
    for package in ("control-panel", "marketing-site"):
        assert not (repo.path / "packages" / package / "CHANGELOG.md").exists() or (
            "0.3.0" not in (repo.path / "packages" / package / "CHANGELOG.md").read_text()
        )
    log = (repo.path / "packages/agent-runtime/CHANGELOG.md").read_text()
    assert "## 0.2.1" in log and "dependent of sandbox" in log
    repo.invoke("verify", "--package", "cli", "--version", "0.2.1")
    listed = repo.invoke("release.assets", "--dry-run").stdout
    for tag in ("sandbox-v0.3.0", "agent-runtime-v0.2.1", "cli-v0.2.1"):
        assert "SHA256SUMS  sha256:" in listed and f"-> release {tag}" in listed
    assert "ironcage-0.2.1-linux" in listed  # cli's binary, at its package's version


def _live(repo: Repo, name: str) -> dict[str, str]:
    env = gitops_env.resolve(repo.path, name)
    kenv = kube_env.KubeEnv(env.name, env.values, env.namespace, env.kube, env.local_root)
    return rollout.live_images(repo.path, kenv, set(IMAGES))


def test_a_partial_release_deploys_through_gitops_and_promotes_as_is(released: Repo) -> None:
    repo = released
    repo.commit("packages/agent-runtime/README.md", "fix(agent-runtime): a typo")
    out = repo.invoke("release", "--yes", "--env", "dev").stdout
    assert "agent-runtime-0.2.2" in out and "gitops dev:" in out
    images = json.loads((repo.path / "dist/agent-runtime-0.2.2/images.json").read_text())
    charted = ("agent-runtime", "control-panel-api", "control-panel-web")
    pinned = {name: images[name]["digest"] for name in charted}
    assert _live(repo, "dev") == pinned
    last = json.loads((repo.path / "dist/sandbox-0.3.0+agent-runtime-0.2.1+cli-0.2.1/images.json")
                      .read_text())  # fmt: skip
    for kept in ("control-panel-api", "control-panel-web"):
        assert images[kept]["digest"] == last[kept]["digest"]
    rows = {r["env"]: r for r in json.loads(repo.invoke("gitops.status", "--json").stdout)}
    assert (rows["dev"]["desired_version"], rows["dev"]["ready"]) == ("agent-runtime-0.2.2", True)
    running = {"agent-runtime": "0.2.2", "control-panel": "0.2.0"}
    assert {r["name"]: r["running"] for r in rows["dev"]["releases"]} == running

    promoted = json.loads(
        repo.invoke("promote", "--from", "dev", "--to", "staging", "--yes", "--json").stdout
    )
    assert promoted["version"] == "agent-runtime-0.2.2"
    assert {r["name"]: r["running"] for r in promoted["flux"]["releases"]} == running
    assert _live(repo, "staging") == pinned
