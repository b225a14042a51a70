"""A GitOps world for one test module: registry, local cluster with Flux, the git server.

Everything runs under a temporary root holding a copy of release.toml and the charts: the
sandbox's GitOps repository served over smart HTTP, a registry on a free port, the local
control plane with source-, kustomize- and helm-controller, and a cosign key pair. ``World.
publish`` makes a release's artifacts real: each chart packaged, pushed and signed, and a
small image per image name pushed and signed, recorded in dist/<version>/images.json.
``World.publish_partial`` does the same for a partial independent release: only the charts
it releases, each at its own version, and an images.json that lists the other charts'
images as kept, at the digests of the release that last pushed them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from releasekit.deploy import cluster, git_http, gitops, gitops_env, kube, testbed_servers
from releasekit.deploy.gitops_repo import checkout
from releasekit.deploy.helm_pins import chart_images
from releasekit.publish import charts, oci, signing
from releasekit.publish.trust import Trust
from tests.conftest import REPO, require

IMAGES = ("agent-runtime", "control-panel-api", "control-panel-web")
TIMEOUT = 240.0


@dataclass
class World:
    root: Path
    registry: str
    key: signing.SigningKey
    trust: Trust

    def env(self, name: str) -> gitops_env.GitOpsEnv:
        return gitops_env.resolve(self.root, name)

    def publish(self, version: str, never_ready: tuple[str, ...] = (), key: signing.SigningKey
                | None = None) -> gitops.Desired:  # fmt: skip
        """Push and sign the charts and images of ``version``; what a release would pin."""
        signer = key or self.key
        access = oci.Access(plain_http=True)
        for archive in charts.package(self.root, version, epoch=0):
            charts.push(archive, self.registry)
        for chart in charts.find_charts(self.root):
            host, path = oci.split_ref(f"{charts.chart_repo(self.registry)}/{chart.name}")
            found = oci.fetch_manifest(host, path, version, access)
            assert found is not None
            signing.sign(f"{host}/{path}@{found.digest}", signer, access)
        entries = {}
        for image in IMAGES:
            repository = f"{'never-ready/' if image in never_ready else ''}ironcage/{image}"
            digest = _push_image(self.registry, repository, version, image)
            signing.sign(f"{self.registry}/{repository}@{digest}", signer, access)
            entries[image] = {"repository": f"{self.registry}/{repository}", "digest": digest,
                              "tags": [version]}  # fmt: skip
        folder = self.root / "dist" / version
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "images.json").write_text(json.dumps(entries), encoding="utf-8")
        return gitops.plan(self.root, version, self.registry, None, access)

    def publish_partial(self, release: str, versions: dict[str, str], kept: str) -> gitops.Desired:
        """Push and sign the charts of ``versions`` (chart -> version) not at ``kept`` and
        their images; the other charts' images keep the digests of release ``kept``."""
        access = oci.Access(plain_http=True)
        last = json.loads((self.root / "dist" / kept / "images.json").read_text())
        entries = {}
        for chart in charts.find_charts(self.root):
            at = versions[chart.name]
            if at == kept:
                entries |= {i: last[i] for i in chart_images(chart) if i in IMAGES}
                continue
            for archive in charts.package(self.root, at, chart.name, epoch=0):
                charts.push(archive, self.registry)
            host, path = oci.split_ref(f"{charts.chart_repo(self.registry)}/{chart.name}")
            found = oci.fetch_manifest(host, path, at, access)
            assert found is not None
            signing.sign(f"{host}/{path}@{found.digest}", self.key, access)
            for image in (i for i in chart_images(chart) if i in IMAGES):
                digest = _push_image(self.registry, f"ironcage/{image}", at, image)
                signing.sign(f"{self.registry}/ironcage/{image}@{digest}", self.key, access)
                entries[image] = {"repository": f"{self.registry}/ironcage/{image}",
                                  "digest": digest, "tags": [at]}  # fmt: skip
        folder = self.root / "dist" / release
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "images.json").write_text(json.dumps(entries), encoding="utf-8")
        return gitops.plan(self.root, release, self.registry, None, access, versions)


def running_images(world: World, env: str) -> set[str]:
    """The image references the live workloads of ``env`` run."""
    target = world.env(env)
    return {ref for w in kube.workloads(target.kube, target.namespace) for ref in w.images}


def commits(world: World) -> list[str]:
    """``<commit> <subject>`` of the GitOps repository's main branch, newest first."""
    copy = checkout(world.root, gitops.repository_url(world.root, world.env("dev")), "main")
    return copy.git("log", "--format=%H %s").splitlines()


def _put(url: str, data: bytes, media: str) -> None:
    request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": media})
    urllib.request.urlopen(request, timeout=30).close()


def _push_image(registry: str, repository: str, tag: str, name: str) -> str:
    """A one-layer OCI image (distinct per name and tag) pushed by the registry's API."""
    base = f"http://{registry}/v2/{repository}"
    blobs = []
    for media, data in (
        ("application/vnd.oci.image.config.v1+json",
         json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                     "diff_ids": []}, "config": {"Labels": {"n": f"{name}:{tag}"}}}).encode()),
    ):  # fmt: skip
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = urllib.request.Request(f"{base}/blobs/uploads/", data=b"", method="POST")
        with urllib.request.urlopen(start, timeout=30) as answer:
            location = answer.headers["Location"]
        location = location if location.startswith("http") else f"http://{registry}{location}"
        joiner = "&" if "?" in location else "?"
        _put(f"{location}{joiner}digest={digest}", data, "application/octet-stream")
        blobs.append({"mediaType": media, "digest": digest, "size": len(data)})
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": blobs[0], "layers": [],
    }).encode()  # fmt: skip
    _put(f"{base}/manifests/{tag}", manifest, "application/vnd.oci.image.manifest.v1+json")
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One control plane with Flux, one registry and one git server for the whole module
    (each module has its own, so the modules run side by side)."""
    for tool in ("git", "helm", "cosign", "openssl", *cluster.COMPONENTS):
        require(tool)
    root = tmp_path_factory.mktemp("gitops-root")
    manifest = (REPO / "release.toml").read_text(encoding="utf-8")
    fail_fast = 'path = "clusters/dev"\ntimeout = "15s"\nreconcile = "10s"\n'
    (root / "release.toml").write_text(manifest.replace('path = "clusters/dev"\n', fail_fast))
    shutil.copytree(REPO / "helm", root / "helm")
    for folder in ("packages", "docker", "terraform"):
        (root / folder).symlink_to(REPO / folder)
    registry = testbed_servers.start_registry(root / "registry")
    try:
        cluster.up(root)
        git_http.up(root)
        key_path, public, password = signing.ensure_key_pair(root / "keys")
        key = signing.SigningKey(str(key_path), public, password)
        trust = Trust("test", public, oci.Access(plain_http=True))
        yield World(root, registry.host, key, trust)
    finally:
        git_http.stop_server(root)
        cluster.down(root, purge=True)
        testbed_servers.stop(registry)
