"""A small, real monorepo in a temporary git repository, for engine unit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from releasekit.core.version import python_version
from tests.conftest import git

__all__ = ["git"]

MANIFEST = """\
[release]
policy = "{policy}"
branch = "main"

[[packages]]
name = "core"
path = "packages/core"
dist = "demo-core"
module = "demo_core"
artifacts = ["sdist", "wheel"]

[[packages]]
name = "app"
path = "packages/app"
dist = "demo-app"
module = "demo_app"
artifacts = ["sdist", "wheel", "image"]
images = ["app"]
paths = ["docker/app.Dockerfile"]

[[packages]]
name = "tool"
path = "packages/tool"
dist = "demo-tool"
module = "demo_tool"
artifacts = ["wheel"]

[[packages]]
name = "site"
path = "packages/site"
dist = "demo-site"
module = "demo_site"
artifacts = ["site"]

[[sites]]
package = "app"
file = "charts/app/Chart.yaml"
kind = "chart"
"""

PYPROJECT = """\
[project]
name = "{dist}"
version = "{version}"
dependencies = [{deps}]

[tool.other]
version = "9.9.9"
"""


def _package(root: Path, name: str, dist: str, module: str, version: str, deps: list[str]) -> None:
    folder = root / "packages" / name
    (folder / "src" / module).mkdir(parents=True)
    python = python_version(version)  # what the toolkit writes into Python's own sites
    pins = ", ".join(f'"{d}=={python}"' for d in deps)
    (folder / "pyproject.toml").write_text(
        PYPROJECT.format(dist=dist, version=python, deps=pins), encoding="utf-8"
    )
    (folder / "src" / module / "__init__.py").write_text(
        f'"""{name}."""\n\n__version__ = "{version}"\n', encoding="utf-8"
    )


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """Build the demo monorepo: core <- app, core <- tool, site alone; one commit on main."""

    def make(policy: str = "lockstep", version: str = "1.4.2") -> Path:
        root = tmp_path / "repo"
        root.mkdir()
        (root / "release.toml").write_text(MANIFEST.format(policy=policy), encoding="utf-8")
        _package(root, "core", "demo-core", "demo_core", version, [])
        _package(root, "app", "demo-app", "demo_app", version, ["demo-core"])
        _package(root, "tool", "demo-tool", "demo_tool", version, ["demo-core"])
        _package(root, "site", "demo-site", "demo_site", version, [])
        (root / "charts" / "app").mkdir(parents=True)
        (root / "charts" / "app" / "Chart.yaml").write_text(
            f'apiVersion: v2\nname: app\nversion: {version}\nappVersion: "{version}"\n',
            encoding="utf-8",
        )
        (root / "docker").mkdir()
        (root / "docker" / "app.Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.email", "test@example.com")
        git(root, "config", "user.name", "Test")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "chore: initial")
        return root

    return make
