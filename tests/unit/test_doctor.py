"""`invoke doctor` names the `scripts/setup.sh --with` part that installs each tool."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from releasekit.core import doctor
from releasekit.core.errors import PreflightError
from tests.conftest import REPO


def _setup_parts() -> list[str]:
    listed = subprocess.run(
        ["bash", str(REPO / "scripts/setup.sh"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def test_every_part_a_tool_names_is_one_setup_installs() -> None:
    parts = set(_setup_parts())
    assert {"cluster", "browser", "terraform"} <= parts
    named = {tool.part for tool in doctor.TOOLS if tool.part}
    assert named - parts == set()
    for tool in doctor.TOOLS:
        assert doctor.setup_command([tool.part] if tool.part else []) in tool.install, tool.name


def test_every_task_list_names_known_tools() -> None:
    known = {tool.name for tool in doctor.TOOLS}
    for task, names in doctor.TASK_TOOLS.items():
        assert set(names) <= known, task
        assert {t.name for t in doctor.needed_by(task)} == set(names), task


def test_an_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(PreflightError, match=r"tf\.plan"):
        doctor.needed_by("no-such-task")


def test_setup_command_lists_each_part_once() -> None:
    command = doctor.setup_command(["cluster", "helm", "cluster"])
    assert command == "scripts/setup.sh --with cluster,helm"
    assert doctor.setup_command([]) == "scripts/setup.sh --with none"


def _doctor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`invoke doctor` with a PATH that holds no tool at all."""
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "invoke", "doctor", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_doctor_for_a_task_names_the_missing_tools_and_the_setup_flag(tmp_path: Path) -> None:
    result = _doctor(tmp_path, "--task", "cluster")
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert "`invoke cluster` needs openssl, etcd, kube-apiserver" in message
    assert "`sudo scripts/setup.sh --with cluster`" in message


def test_doctor_for_a_task_lists_only_its_tools(tmp_path: Path) -> None:
    result = _doctor(tmp_path, "--task", "tf.plan", "--json")
    assert result.returncode != 0
    rows = json.loads(result.stdout)
    assert [row["tool"] for row in rows] == ["terraform"]
    assert "scripts/setup.sh --with terraform" in rows[0]["install"]


FLUX = ("source-controller", "kustomize-controller", "helm-controller")


def _controller(folder: Path, name: str, file_name: str) -> None:
    """A command ``name`` linked to ``file_name`` that answers --help as the controllers do."""
    folder.mkdir(exist_ok=True)
    binary = folder / file_name
    binary.write_text(f'#!/bin/sh\necho "Usage of {name}:" >&2\n')
    binary.chmod(0o755)
    if file_name != name:
        (folder / name).symlink_to(binary)


def _flux_tool(name: str) -> doctor.Tool:
    return next(t for t in doctor.TOOLS if t.name == name)


def test_the_flux_controllers_are_pinned_as_their_build_script_pins_them() -> None:
    script = (REPO / "scripts" / "build-flux.sh").read_text()
    pinned = dict(re.findall(r'^\s+"([a-z-]+-controller) (v[\d.]+)"$', script, re.MULTILINE))
    assert set(pinned) == set(FLUX)
    for name in FLUX:
        tool = _flux_tool(name)
        assert f"v{tool.minimum}" == pinned[name]
        assert tool.part == "cluster" and "scripts/build-flux.sh" in tool.install
    assert set(FLUX) <= set(doctor.TASK_TOOLS["cluster"])


def test_a_flux_controller_tells_its_version_by_the_file_it_links_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    _controller(cache, "source-controller", "source-controller-v1.9.3")
    _controller(cache, "helm-controller", "helm-controller-v1.5.0")
    _controller(cache, "kustomize-controller", "kustomize-controller")
    monkeypatch.setenv("PATH", str(cache))

    found = doctor.check_tool(_flux_tool("source-controller"))
    assert (found.ok, found.version, found.problem) == (True, "1.9.3", None)

    old = doctor.check_tool(_flux_tool("helm-controller"))
    assert not old.ok and old.too_old and old.version == "1.5.0"
    assert "older than the 1.6.2" in (old.problem or "")

    unnamed = doctor.check_tool(_flux_tool("kustomize-controller"))
    assert not unnamed.ok and unnamed.version is None
    assert "kustomize-controller-vX.Y.Z" in (unnamed.problem or "")
    assert "scripts/build-flux.sh" in (unnamed.problem or "")


def test_a_missing_flux_controller_names_its_build_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    missing = doctor.check_tool(_flux_tool("helm-controller"))
    assert missing.path is None and not missing.ok
    problem = missing.problem or ""
    assert "`helm-controller` is missing" in problem
    assert "scripts/setup.sh --with cluster" in problem and "scripts/build-flux.sh" in problem


def test_doctor_lists_the_flux_controllers_with_the_cluster(tmp_path: Path) -> None:
    result = _doctor(tmp_path, "--task", "cluster", "--json")
    assert result.returncode != 0
    rows = {row["tool"]: row for row in json.loads(result.stdout)}
    for name in FLUX:
        assert rows[name]["ok"] is False and rows[name]["path"] is None
        assert "scripts/build-flux.sh" in rows[name]["install"]
