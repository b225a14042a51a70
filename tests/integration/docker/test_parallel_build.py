"""The build graph with images: they reuse the wheels just built; a broken image stops it."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from releasekit.build import runner as builds
from releasekit.core import manifest, workspace
from releasekit.core.errors import BuildError, ToolError
from tests.integration.docker.conftest import IMAGES, Built, commit_all

pytestmark = pytest.mark.integration

KINDS: tuple[builds.Kind, ...] = ("python", "site", "images")


def _copy(built: Built, dest: Path) -> workspace.Workspace:
    """The session's workspace copied (same commit), without its build outputs."""
    shutil.copytree(built.ws.root, dest, ignore=shutil.ignore_patterns("dist", "build"))
    return workspace.load(manifest.load(dest))


def _restore(built: Built, client: Any) -> None:
    """Give the session's images their tags back and remove the images made here."""
    made = set()
    for name in IMAGES:
        with contextlib.suppress(docker.errors.ImageNotFound):
            made.add(client.images.get(f"ironcage/{name}:{built.version}").id)
    for result in built.results.values():
        image = client.images.get(result.image_id)
        for ref in result.tags:
            image.tag(*ref.rsplit(":", 1))
    for image_id in made - {r.image_id for r in built.results.values()}:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(image_id, force=True)


def test_noop_build_after_a_build_reports_every_artifact_cached(
    built: Built, client: Any, tmp_path: Path
) -> None:
    ws = _copy(built, tmp_path / "repo")
    try:
        first = builds.build(ws, KINDS, jobs=2)
        wheels = sorted((ws.root / "dist" / built.version / "python").glob("*.whl"))
        house = ws.root / "build" / "wheelhouse" / "agent-runtime"
        assert {
            w.name: w.read_bytes() for w in wheels if "agent" in w.name or "sandbox" in w.name
        } == {w.name: w.read_bytes() for w in house.iterdir()}
        assert {o.key for o in first.outcomes} >= {f"image:{name}" for name in IMAGES}
        again = builds.build(ws, KINDS, jobs=2)
        assert {o.key: o.status for o in again.outcomes} == {
            o.key: "up to date" for o in first.outcomes
        }
        assert again.checksums.status == "up to date"
        # Every digest passed its smoke test in the first build: the re-run starts nothing.
        smoke = json.loads((ws.root / "build" / "images" / "smoke.json").read_text())
        for outcome in first.outcomes:
            if outcome.key.startswith("image:"):
                name = outcome.key.removeprefix("image:")
                passed = [v for k, v in smoke.items() if k.startswith(outcome.platforms[0][1])]
                assert passed and passed[0]["image"] == name
                assert "GET /health 200" in passed[0]["checks"]
                log = (ws.root / "build" / "logs" / f"image-{name}.log").read_text()
                assert "already passed its smoke test" in log
                assert "smoke test (" not in log
    finally:
        _restore(built, client)


def test_broken_dockerfile_stops_the_build_with_its_log(
    built: Built, client: Any, tmp_path: Path
) -> None:
    ws = _copy(built, tmp_path / "repo")
    dockerfile = ws.root / "docker" / "marketing-site.Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace(
            "COPY docker/nginx/nginx.conf",
            "RUN echo broken-step && exit 3\nCOPY docker/nginx/nginx.conf",
            1,
        )
    )
    commit_all(ws.root, "break the Dockerfile")
    ws = workspace.load(manifest.load(ws.root))
    with pytest.raises(BuildError, match=r"Building image:marketing-site failed") as info:
        builds.build(ws, ("site", "images"), packages=["marketing-site"], jobs=2)
    error = info.value
    assert isinstance(error.cause, ToolError)
    assert error.exit_code == ToolError.exit_code
    assert error.log == "build/logs/image-marketing-site.log"
    assert "RUN echo broken-step && exit 3" in str(error)
    assert "exit code: 3" in str(error)
    log = (ws.root / error.log).read_text()
    assert "dockerfile.v0" in log
    assert "exit code: 3" in log
    assert "Full log: build/logs/image-marketing-site.log" in str(error)
