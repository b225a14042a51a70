"""Reproducible digests: the same commit gives the same images whatever BuildKit's cache holds."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from releasekit.build import images
from releasekit.build.images import buildkit
from releasekit.build.images.prime import prime
from releasekit.core import manifest, workspace
from releasekit.deploy import testbed
from releasekit.publish import oci
from tests.conftest import git
from tests.integration.docker.conftest import IMAGES, Built

pytestmark = pytest.mark.integration


@contextmanager
def _empty_state(state: Path) -> Iterator[Path]:
    """An empty BuildKit state at ``state`` (a second daemon), stopped afterwards."""
    before = os.environ.get(buildkit.STATE_ENV)
    os.environ[buildkit.STATE_ENV] = str(state)
    try:
        yield state
    finally:
        buildkit.stop()
        if before is None:
            os.environ.pop(buildkit.STATE_ENV, None)
        else:
            os.environ[buildkit.STATE_ENV] = before


@pytest.fixture
def other_state(tmp_path: Path) -> Iterator[Path]:
    """An empty BuildKit state of this test's own, stopped afterwards."""
    with _empty_state(tmp_path / "state") as state:
        yield state


def _touched_copy(built: Built, dest: Path) -> workspace.Workspace:
    """The session's workspace (same commit) without its build outputs, every file touched."""
    shutil.copytree(built.ws.root, dest, ignore=shutil.ignore_patterns("dist", "build"))
    later = time.time() + 3600
    for path in dest.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            os.utime(path, (later, later))
    return workspace.load(manifest.load(dest))


def test_a_primed_state_and_touched_inputs_give_identical_digests(
    built: Built, client: Any, registry: testbed.Service, tmp_path: Path, other_state: Path
) -> None:
    """The session built from an empty state; a second state, primed as scripts/setup.sh
    primes the machine's (the bases imported, the commit-free stages built), gives the same
    digests from the same commit with every input touched."""
    ws = _touched_copy(built, tmp_path / "repo")
    primed = prime(ws)
    assert {line.partition(": ")[0]: line.endswith(" built") for line in primed} == {
        "NGINX_BASE": False,
        "PYTHON_BASE": False,
        "agent-runtime": True,
        "control-panel-api": True,
    }
    assert all(" imported for linux/amd64" in line for line in primed if "_BASE: " in line)
    source = images.Source(registry.host, "repro")
    again = images.build_images(ws, built.version, client=client, registry=source)
    first = {name: r.digest for name, r in built.results.items()}
    second = {r.name: r.digest for r in again}
    print(f"index digests, first build: {first}")
    print(f"index digests, second build from a primed state: {second}")
    assert (other_state / "root").is_dir()
    assert sorted(second) == sorted(IMAGES)
    assert second == first
    assert {r.name: r.platforms for r in again} == {
        n: r.platforms for n, r in built.results.items()
    }
    # Pushed by digest while building: the registry serves exactly that digest, untagged.
    for result in again:
        served = oci.fetch_manifest(
            registry.host, f"repro/{result.name}", result.digest, oci.Access(plain_http=True)
        )
        assert served is not None and served.digest == result.digest


def test_a_cache_of_an_older_commit_gives_the_digests_of_an_empty_state(
    built: Built, client: Any, tmp_path: Path
) -> None:
    """The next commit, built by the session's daemon (its cache holds every step of the
    session's commit) and by an empty one, gives the same digests. A RUN step reused from
    the older commit would keep the times of files it wrote then, older than the new
    commit, which rewrite-timestamp does not clamp."""
    root = tmp_path / "repo"
    shutil.copytree(built.ws.root, root, ignore=shutil.ignore_patterns("dist", "build"))
    time.sleep(1.1)  # the next commit is later than every file the session's build wrote
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-q",
        "--allow-empty", "-m", "fix: the next commit")  # fmt: skip
    chosen = ["control-panel-api", "control-panel-web"]  # a venv and a nginx RUN step
    ws = workspace.load(manifest.load(root))
    warm = images.build_images(ws, built.version, images=chosen, client=client)
    shutil.rmtree(root / "build")
    with _empty_state(tmp_path / "state") as state:
        empty = images.build_images(ws, built.version, images=chosen, client=client)
        assert (state / "root").is_dir()
    print(f"warm state: {[(r.name, r.digest) for r in warm]}")
    print(f"empty state: {[(r.name, r.digest) for r in empty]}")
    assert all(r.status == "built" for r in (*warm, *empty))
    assert {r.name: r.digest for r in warm} == {r.name: r.digest for r in empty}
    assert {r.name: r.digest for r in warm} != {n: built.results[n].digest for n in chosen}
