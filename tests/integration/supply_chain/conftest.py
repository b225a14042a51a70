"""A small but real release, published and signed, for every test to verify or tamper with.

Each test gets its own: a version, a namespace on the session's docker-registry, its own
pypiserver (uploads need a password), a wheel and sdist on that index, an OCI image and a
chart in the registry, a release folder with SHA256SUMS, SBOM, binary and release.json,
all signed with a real cosign key pair (the private key held only in an environment
variable) and a target table in a copy of release.toml naming where everything went.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
import yaml

from releasekit.build import checksums
from releasekit.build.images import sbom as image_sbom
from releasekit.core import manifest
from releasekit.deploy import testbed
from releasekit.publish import charts, oci, signing, supply_chain, targets
from releasekit.publish import index as python_upload
from tests.conftest import REPO, copy_repo, require

KEY_PASSWORD = "canary-key-password-7f3a9c"
OTHER_PASSWORD = "canary-other-password-51be0d"
PYPI_PASSWORD = "canary-pypi-password-c0ffee"
REGISTRY_PASSWORD = "canary-registry-password-d4e5"
SECRETS = (KEY_PASSWORD, OTHER_PASSWORD, PYPI_PASSWORD, REGISTRY_PASSWORD)
KEY_ENV = "SUPPLY_CHAIN_TEST_KEY"
PASSWORD_ENV = "SUPPLY_CHAIN_TEST_KEY_PASSWORD"
IMAGE = "agent-runtime"
CHART = "agent-runtime"
_COUNTER = itertools.count(1)


@dataclass(frozen=True)
class Keys:
    """The release key pair and another one, as files (private keys 0600)."""

    key: Path
    public: Path
    other_key: Path
    other_public: Path


@dataclass(frozen=True)
class Released:
    """One published, signed release: where it lives and what it holds."""

    root: Path
    version: str
    target: targets.Target
    folder: Path
    pypi: testbed.Service
    keys: Keys
    wheel: str
    auth: tuple[str, str] | None = None

    @property
    def host(self) -> str:
        return self.target.registry_host

    @property
    def image_repository(self) -> str:
        return f"{self.target.registry}/{IMAGE}"

    def invoke_verify(
        self, *extra: str, key: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`invoke verify` for this release, as a user runs it."""
        argv = [
            str(Path(sys.executable).parent / "invoke"), "verify", "--version", self.version,
            "--target", self.target.name, "--key", str(key or self.keys.public), *extra,
        ]  # fmt: skip
        return subprocess.run(argv, cwd=self.root, capture_output=True, text=True, check=False)


def push_artifact(
    host: str,
    repository: str,
    tag: str,
    config: tuple[str, bytes],
    layer: tuple[str, bytes],
    auth: tuple[str, str] | None = None,
) -> str:
    """Push a one-layer OCI manifest (config and layer as media type and bytes); its digest."""
    base = f"http://{host}/v2/{repository}"

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = requests.post(f"{base}/blobs/uploads/", auth=auth, timeout=10)
        start.raise_for_status()
        location = start.headers["Location"]
        if location.startswith("/"):
            location = f"http://{host}{location}"
        sep = "&" if "?" in location else "?"
        done = requests.put(f"{location}{sep}digest={digest}", data=data, auth=auth, timeout=10)
        done.raise_for_status()
        return digest

    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": config[0], "digest": blob(config[1]), "size": len(config[1])},
            "layers": [{"mediaType": layer[0], "digest": blob(layer[1]), "size": len(layer[1])}],
        }
    ).encode()
    response = requests.put(
        f"{base}/manifests/{tag}",
        data=body,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        auth=auth,
        timeout=10,
    )
    response.raise_for_status()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def push_image(
    host: str, repository: str, tag: str, content: bytes, auth: tuple[str, str] | None = None
) -> str:
    """Push a one-layer OCI image holding ``content`` as /payload; its manifest digest."""
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as tar:
        info = tarfile.TarInfo("payload")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    layer = gzip.compress(layer_tar.getvalue(), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(layer_tar.getvalue()).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/payload"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    return push_artifact(
        host,
        repository,
        tag,
        ("application/vnd.oci.image.config.v1+json", config),
        ("application/vnd.oci.image.layer.v1.tar+gzip", layer),
        auth,
    )


def push_chart(host: str, repository: str, archive: Path, auth: tuple[str, str]) -> str:
    """Push a chart archive as helm does (its OCI media types), without helm's login."""
    with tarfile.open(archive, "r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/Chart.yaml"))
        handle = tar.extractfile(member)
        assert handle is not None
        meta = yaml.safe_load(handle.read())
    return push_artifact(
        host,
        repository,
        str(meta["version"]),
        ("application/vnd.cncf.helm.config.v1+json", json.dumps(meta).encode()),
        (oci.CHART_LAYER, archive.read_bytes()),
        auth,
    )


def sbom(image: str, version: str, note: str = "") -> dict[str, object]:
    """A small CycloneDX 1.5 document for ``image``."""
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {"component": {"type": "container", "name": image, "version": version}},
        "components": [
            {"type": "library", "name": "payload", "version": version, "description": note}
        ],
    }


def package_chart(root: Path, version: str, dest: Path, description: str | None = None) -> Path:
    """``helm package`` of the agent-runtime chart at ``version`` (optionally re-described)."""
    source = root / "helm" / CHART
    if description is not None:
        copy = dest / "src" / CHART
        shutil.copytree(source, copy)
        chart_yaml = copy / "Chart.yaml"
        text = chart_yaml.read_text()
        chart_yaml.write_text(
            "\n".join(
                f"description: {description}" if line.startswith("description:") else line
                for line in text.splitlines()
            )
            + "\n"
        )
        source = copy
    out = dest / "out"
    out.mkdir(parents=True, exist_ok=True)
    charts.run_helm(charts.package_argv(source, version, out))
    return out / f"{CHART}-{version}.tgz"


@pytest.fixture(scope="session")
def workspace_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository: its release.toml gets one target table per test."""
    root = copy_repo(tmp_path_factory.mktemp("supply-chain-repo"))
    return root


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A real wheel and sdist of packages/sandbox, built once."""
    out = tmp_path_factory.mktemp("dists")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
         str(REPO / "packages" / "sandbox")],
        check=True, capture_output=True,
    )  # fmt: skip
    return sorted(out.iterdir())


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    require("cosign")
    home = tmp_path_factory.mktemp("keys")
    key, public = signing.generate_key_pair(home / "release", KEY_PASSWORD)
    other_key, other_public = signing.generate_key_pair(home / "other", OTHER_PASSWORD)
    return Keys(key, public, other_key, other_public)


@pytest.fixture(scope="session")
def private_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testbed.Service]:
    """A docker-registry that answers only to user `ci` with REGISTRY_PASSWORD (htpasswd)."""
    require("docker-registry")
    service = testbed.start_registry(
        tmp_path_factory.mktemp("private-registry"), auth=("ci", REGISTRY_PASSWORD)
    )
    yield service
    testbed.stop(service)


@pytest.fixture(params=["open"])
def release_registry(request: pytest.FixtureRequest) -> testbed.Service:
    """The registry a release goes to: open (default) or `private` (needs credentials)."""
    name = "private_registry" if request.param == "private" else "registry"
    service: testbed.Service = request.getfixturevalue(name)
    return service


def _add_target(
    root: Path, name: str, pypi: testbed.Service, registry: testbed.Service, namespace: str
) -> None:
    with (root / manifest.MANIFEST_NAME).open("a", encoding="utf-8") as handle:
        handle.write(
            f"\n[targets.{name}]\n"
            f'pypi_url = "{pypi.url}"\n'
            f'registry = "{registry.host}/{namespace}"\n'
            f'chart_registry = "oci://{registry.host}/{namespace}/charts"\n'
            'git_remote = "origin"\n'
            "plain_http = true\n"
            'pypi_username_env = "SUPPLY_CHAIN_PYPI_USER"\n'
            'pypi_password_env = "SUPPLY_CHAIN_PYPI_PASSWORD"\n'
            'registry_username_env = "SUPPLY_CHAIN_REGISTRY_USER"\n'
            'registry_password_env = "SUPPLY_CHAIN_REGISTRY_PASSWORD"\n'
            f'signing_key_env = "{KEY_ENV}"\n'
            f'signing_password_env = "{PASSWORD_ENV}"\n'
        )


PushImage = Callable[[str, str, str], tuple[str, dict[str, str]]]
"""Pushes the release's image (host, repository, tag): its digest, {platform: manifest digest}."""


def _publish(
    root: Path,
    target: targets.Target,
    version: str,
    dists: list[Path],
    work: Path,
    auth: tuple[str, str] | None,
    push: PushImage | None = None,
) -> str:
    """Build, publish and sign release ``version`` to ``target`` as a release does; its wheel.

    ``push`` makes the image (default: one random single-platform manifest); a
    multi-platform one gets an SBOM per platform.
    """
    folder = root / "dist" / version
    # The artifacts: dists, binary, SBOM, chart archive; SHA256SUMS over them.
    (folder / "python").mkdir(parents=True)
    for dist in dists:
        (folder / "python" / dist.name).write_bytes(dist.read_bytes())
    (folder / "bin").mkdir()
    (folder / "bin" / f"ironcage-{version}-linux-x86_64").write_bytes(b"\x7fELF" + os.urandom(64))
    (folder / "sbom").mkdir()
    bom = folder / "sbom" / f"{IMAGE}-{version}.cdx.json"
    bom.write_text(json.dumps(sbom(IMAGE, version), indent=2))
    archive = package_chart(root, version, work / "chart")
    (folder / "charts").mkdir()
    (folder / "charts" / archive.name).write_bytes(archive.read_bytes())
    checksums.write(folder)
    # Publish: index, registry (images.json, as the release writes it), chart registry.
    uploaded = python_upload.upload(
        sorted((folder / "python").iterdir()),
        target.pypi_url,
        "SUPPLY_CHAIN_PYPI_USER",
        "SUPPLY_CHAIN_PYPI_PASSWORD",
        index_url=target.pypi_index,
    )
    host, namespace = oci.split_ref(target.registry)
    if push is None:
        digest = push_image(host, f"{namespace}/{IMAGE}", version, os.urandom(32), auth)
        platforms: dict[str, str] = {}
    else:
        digest, platforms = push(host, f"{namespace}/{IMAGE}", version)
    images: dict[str, dict[str, object]] = {
        IMAGE: {"repository": f"{target.registry}/{IMAGE}", "digest": digest, "tags": [version]}
    }
    if platforms:
        images[IMAGE]["platforms"] = platforms
        for platform in platforms:
            own = folder / "sbom" / image_sbom.sbom_name(IMAGE, version, platform)
            own.write_text(json.dumps(sbom(IMAGE, version, platform), indent=2))
        checksums.write(folder)
    (folder / "images.json").write_text(json.dumps(images, indent=2))
    chart_ref = f"{target.chart_registry}/{CHART}:{version}"
    if auth:  # helm's own login differs between helm 3 and 4 on plain HTTP
        chart_host, rest = oci.split_ref(target.chart_registry)
        push_chart(chart_host, f"{rest}/{CHART}", folder / "charts" / archive.name, auth)
    else:
        chart_ref = charts.push(folder / "charts" / archive.name, target.chart_registry).ref
    published = {
        "commit": "0" * 40,
        "tag": f"v{version}",
        "python": {u.path.name: {"status": u.status, "sha256": u.sha256} for u in uploaded},
        "images": images,
        "charts": {
            archive.name: {
                "ref": chart_ref,
                "status": "pushed",
                "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
            }
        },
    }
    signed, _ = supply_chain.sign_published(root, version, target, published, {"target": "t"})
    report = {**published, "version": version, "charts": signed.charts}
    (folder / "release.json").write_text(json.dumps(report, indent=2))
    checksums.write(folder)
    return next(u.path.name for u in uploaded if u.path.suffix == ".whl")


@pytest.fixture
def push_release_image() -> PushImage | None:
    """How the release's image is made: the default single manifest (a module may override)."""
    return None


@pytest.fixture
def released(
    workspace_copy: Path,
    dists: list[Path],
    keys: Keys,
    release_registry: testbed.Service,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    push_release_image: PushImage | None,
) -> Iterator[Released]:
    """Publish and sign a fresh release (own version, namespace and index)."""
    require("helm")
    registry = release_registry
    auth = ("ci", REGISTRY_PASSWORD) if registry.data.find("private") >= 0 else None
    number = next(_COUNTER)
    version, name, namespace = f"93.{number}.0", f"t{number}", f"sc{number}-{os.getpid()}"
    pypi = testbed.start_pypi(tmp_path / "pypi", "ci", PYPI_PASSWORD)
    try:
        _add_target(workspace_copy, name, pypi, registry, namespace)
        monkeypatch.setenv("SUPPLY_CHAIN_PYPI_USER", "ci")
        monkeypatch.setenv("SUPPLY_CHAIN_PYPI_PASSWORD", PYPI_PASSWORD)
        monkeypatch.setenv("SUPPLY_CHAIN_REGISTRY_USER", "ci")
        monkeypatch.setenv("SUPPLY_CHAIN_REGISTRY_PASSWORD", REGISTRY_PASSWORD)
        monkeypatch.setenv(KEY_ENV, keys.key.read_text())
        monkeypatch.setenv(PASSWORD_ENV, KEY_PASSWORD)
        target = targets.resolve(manifest.load(workspace_copy), name)
        wheel = _publish(workspace_copy, target, version, dists, tmp_path, auth, push_release_image)
        folder = workspace_copy / "dist" / version
        yield Released(workspace_copy, version, target, folder, pypi, keys, wheel, auth)
    finally:
        testbed.stop(pypi)


@pytest.fixture
def older(released: Released, dists: list[Path], tmp_path: Path) -> Released:
    """An earlier release to the same target (same key, index and repositories)."""
    number = next(_COUNTER)
    version = f"{released.version.split('.')[0]}.0.{number}"
    wheel = _publish(released.root, released.target, version, dists, tmp_path / "older", None)
    folder = released.root / "dist" / version
    return replace(released, version=version, folder=folder, wheel=wheel)


def registry_tags(host: str, repository: str) -> list[str]:
    response = requests.get(f"http://{host}/v2/{repository}/tags/list", timeout=10)
    response.raise_for_status()
    return sorted(response.json().get("tags") or [])


def delete_tag(host: str, repository: str, tag: str) -> None:
    """Delete the manifest a tag names (the registry runs with deletes enabled)."""
    manifest_ = oci.fetch_manifest(host, repository, tag, oci.Access(plain_http=True))
    assert manifest_ is not None, f"{repository}:{tag} is not in the registry"
    response = requests.delete(
        f"http://{host}/v2/{repository}/manifests/{manifest_.digest}", timeout=10
    )
    response.raise_for_status()
