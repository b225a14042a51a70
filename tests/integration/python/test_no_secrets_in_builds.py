"""A package's build hook and its console script, run by the real Python build and smoke
test, dump their environment: no secret of the release is in it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from releasekit.build import python as python_dist
from releasekit.core import manifest, version, workspace

pytestmark = pytest.mark.integration

MARKERS = {
    "TWINE_PASSWORD": "marker-twine-41d7",
    "REGISTRY_PASSWORD": "marker-registry-41d7",
    "COSIGN_PRIVATE_KEY": "marker-cosign-key-41d7",
    "COSIGN_PASSWORD": "marker-cosign-password-41d7",
    "GH_TOKEN": "marker-gh-41d7",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "http.https://example.test/.extraheader",
    "GIT_CONFIG_VALUE_0": "AUTHORIZATION: basic marker-git-header-41d7",
}

# The probe package's own version: a workspace of its own, not the monorepo's.
PROBE_VERSION = "3.2.1"

MANIFEST = """\
[release]
policy = "lockstep"
branch = "main"

[[packages]]
name = "envprobe"
path = "packages/envprobe"
dist = "envprobe"
module = "envprobe"
artifacts = ["sdist", "wheel"]
"""

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "envprobe"
version = "{version}"
description = "Dumps its environment."
readme = "README.md"
requires-python = ">=3.11"

[project.scripts]
envprobe = "envprobe:main"

[tool.hatch.build.targets.wheel]
packages = ["src/envprobe"]

[tool.hatch.build.hooks.custom]
"""

HOOK = """\
import json, os
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        with open({dump!r}, "a") as handle:
            handle.write(json.dumps(dict(os.environ)) + "\\n")
"""

MODULE = """\
import json, os, sys

__version__ = "{version}"


def main():
    with open({dump!r}, "a") as handle:
        handle.write(json.dumps(dict(os.environ)) + "\\n")
    print("usage: envprobe [--help]")
"""


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def _workspace(root: Path, dumps: Path) -> workspace.Workspace:
    pkg = root / "packages" / "envprobe"
    (pkg / "src" / "envprobe").mkdir(parents=True)
    (root / "release.toml").write_text(MANIFEST, encoding="utf-8")
    (pkg / "pyproject.toml").write_text(PYPROJECT.format(version=PROBE_VERSION), encoding="utf-8")
    (pkg / "README.md").write_text("# envprobe\n\nDumps its environment.\n", encoding="utf-8")
    (pkg / "hatch_build.py").write_text(HOOK.format(dump=str(dumps / "build.jsonl")))
    (pkg / "src" / "envprobe" / "__init__.py").write_text(
        MODULE.format(dump=str(dumps / "script.jsonl"), version=PROBE_VERSION)
    )
    (root / ".gitignore").write_text("build/\ndist/\n", encoding="utf-8")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "-c", "user.email=t@example.com", "-c", "user.name=T", "add", "-A")
    _git(root, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-qm", "init")
    return workspace.load(manifest.load(root))


def test_build_hooks_and_smoke_tested_scripts_see_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    ws = _workspace(tmp_path / "repo", dumps)
    for name, value in MARKERS.items():
        monkeypatch.setenv(name, value)

    current = version.current(ws)["envprobe"]
    outcome = python_dist.build_package(
        ws, ws.get("envprobe"), current, epoch="1700000000", deps={}, force=True
    )

    assert {p.name for p in outcome.outputs} >= {f"envprobe-{current}-py3-none-any.whl"}
    seen = [
        json.loads(line)
        for name in ("build.jsonl", "script.jsonl")
        for line in (dumps / name).read_text(encoding="utf-8").splitlines()
    ]
    assert len(seen) >= 3  # the sdist and wheel builds, the console script's --help
    for env in seen:
        assert not [k for k, v in env.items() if "marker" in v], env
        assert not {"GIT_CONFIG_COUNT", "COSIGN_PRIVATE_KEY", "TWINE_PASSWORD"} & set(env)
        assert env["PATH"]
