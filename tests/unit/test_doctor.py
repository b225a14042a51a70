"""`invoke doctor` names the `scripts/setup.sh --with` part that installs each tool."""

from __future__ import annotations

import json
import os
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
