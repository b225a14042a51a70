"""Every image built once per session, from a copy of this repository at a test version.

The copy (its own git repository, one commit) is bumped to a version far above the real
one, so the tags made here never replace the images of the working tree; `latest`, which
a release version does move, is put back at the end, and every tag made here is removed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from releasekit.build import images
from releasekit.core import manifest, version, workspace
from tests.conftest import REPO, copy_repo, git, narrow_platforms, require

IMAGES = ("agent-runtime", "control-panel-api", "control-panel-web", "marketing-site")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--image",
        action="append",
        default=[],
        choices=IMAGES,
        help="Run only the tests of this image (repeat for more); they build only these.",
    )


def _mentions(nodeid: str) -> set[str]:
    """The images a test's id names (module, function or parameters)."""
    text = nodeid.replace("_", "-")
    return {name for name in IMAGES if name in text}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --image, keep the tests that name one of those images; deselect the others."""
    chosen = set(config.getoption("image"))
    if not chosen:
        return
    kept = [item for item in items if _mentions(item.nodeid) & chosen]
    dropped = [item for item in items if item not in kept]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def selected(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The images this run builds: those of --image, else all."""
    return tuple(request.config.getoption("image")) or IMAGES


def commit_all(root: Path, message: str = "test") -> None:
    git(root, "add", "-A")
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-qm", message)


@dataclass(frozen=True)
class Built:
    """The session's images: the workspace they were built from, its version and results."""

    ws: workspace.Workspace
    version: str
    results: dict[str, images.ImageResult]


@pytest.fixture(scope="session")
def client() -> Any:
    require("docker")
    return images.connect()


@pytest.fixture(scope="session")
def built(
    client: Any, tmp_path_factory: pytest.TempPathFactory, selected: tuple[str, ...]
) -> Iterator[Built]:
    """Build every image once from a bumped copy of the repository; clean up the tags after."""
    current = next(iter(version.check(workspace.load(manifest.load(REPO))).values()))
    # A version per run and pytest-xdist worker: each builds its own copy, and Docker
    # Engine's local tags (which smoke tests run) must never name the image of another
    # worker, nor of another run on the same engine (a second checkout's nox).
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    run = int(os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:6] or str(os.getpid()), 16) % 1000
    new = f"{version.parse(current).major + 80}.{run}.{1 + worker}"
    root = copy_repo(tmp_path_factory.mktemp("docker-repo"))
    narrow_platforms(root)  # this session builds many times; test_multiarch builds arm64
    ws = workspace.load(manifest.load(root))
    version.apply(ws, version.plan_bump(ws, to=new))
    git(root, "init", "-q", "-b", "main")
    commit_all(root)
    ws = workspace.load(manifest.load(root))
    latest: dict[str, str] = {}
    for name in IMAGES:
        with contextlib.suppress(docker.errors.ImageNotFound):
            latest[name] = client.images.get(f"ironcage/{name}:latest").id
    ids: set[str] = set()
    try:
        results = images.build_images(ws, new, images=list(selected), client=client)
        ids = {r.image_id for r in results}
        yield Built(ws, new, {r.name: r for r in results})
    finally:
        # Every tag of the images built here: the local ones and those pushed to registries.
        made = [tag for image in client.images.list() if image.id in ids for tag in image.tags]
        for ref in made:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(ref, noprune=False)
        for name, image_id in latest.items():
            with contextlib.suppress(docker.errors.APIError):
                client.images.get(image_id).tag(f"ironcage/{name}", "latest")
