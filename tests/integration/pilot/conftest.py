"""Real control panel images of two versions in the test registry, and a broken third.

The images are built by ``releasekit.build.images`` from copies of this repository whose
versions were set with ``releasekit.core.version``, so each reports its own version on
/api/health and /health. Every local tag made here is removed (and a ``latest`` tag it
moved is put back) at the end of the session.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from releasekit.build import images
from releasekit.core import manifest, version, workspace
from releasekit.deploy import testbed
from releasekit.publish.registry import push_images
from tests.conftest import REPO, copy_repo, git, narrow_platforms, require

IMAGES = ("control-panel-api", "control-panel-web", "agent-runtime")
PACKAGES = ["control-panel", "agent-runtime"]


@dataclass(frozen=True)
class PilotImages:
    """Versions in ``registry``: ``good`` (oldest first) and ``broken`` (its API exits)."""

    registry: str
    good: tuple[str, str]
    broken: str


def _release_copy(dest: Path, new: str) -> workspace.Workspace:
    root = copy_repo(dest)
    narrow_platforms(root)
    ws = workspace.load(manifest.load(root))
    version.apply(ws, version.plan_bump(ws, to=new))
    ws = workspace.load(manifest.load(root))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-qm", "test")
    return ws


def _broken_api(client: Any, base: str, ref: str) -> None:
    dockerfile = f'FROM {base}\nCMD ["python3", "-c", "raise SystemExit(\'broken on purpose\')"]\n'
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), rm=True)
    image.tag(ref)


def _push(client: Any, ref: str) -> None:
    repository, _, tag = ref.rpartition(":")
    for chunk in client.images.push(repository, tag=tag, stream=True, decode=True):
        if "error" in chunk:
            raise RuntimeError(f"push {ref}: {chunk['error']}")


@pytest.fixture(scope="session")
def pilot_images(
    registry: testbed.Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PilotImages]:
    require("docker")
    client = docker.from_env(version="auto")
    latest: dict[str, str] = {}
    for name in IMAGES:
        with contextlib.suppress(docker.errors.ImageNotFound):
            latest[name] = client.images.get(f"ironcage/{name}:latest").id
    current = next(iter(version.check(workspace.load(manifest.load(REPO))).values()))
    major = version.parse(current).major + 90
    good = (f"{major}.0.0", f"{major}.1.0")
    broken = f"{major}.2.0"
    made: list[str] = []
    try:
        for new in good:
            ws = _release_copy(tmp_path_factory.mktemp(f"repo-{new}"), new)
            built = images.build_images(ws, new, packages=PACKAGES, client=client)
            made += [tag for result in built for tag in result.tags]
            pushed = push_images(ws, new, registry.host, packages=PACKAGES, client=client)
            made += [f"{p.repository}:{tag}" for p in pushed for tag in p.tags]
        remote = f"{registry.host}/ironcage"
        _broken_api(
            client, f"ironcage/control-panel-api:{good[1]}", f"{remote}/control-panel-api:{broken}"
        )
        for name in ("control-panel-web", "agent-runtime"):
            client.images.get(f"ironcage/{name}:{good[1]}").tag(f"{remote}/{name}", broken)
        made += [f"{remote}/{name}:{broken}" for name in IMAGES]
        for name in IMAGES:
            _push(client, f"{remote}/{name}:{broken}")
        yield PilotImages(registry.host, good, broken)
    finally:
        for ref in made:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(ref, noprune=False)
        for name, image_id in latest.items():
            with contextlib.suppress(docker.errors.APIError):
                client.images.get(image_id).tag(f"ironcage/{name}", "latest")
