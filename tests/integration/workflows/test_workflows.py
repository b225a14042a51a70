"""The GitHub workflows hold no logic and name only what exists.

Every `run:` step calls scripts/setup.sh, a nox session or an invoke task; every action is
pinned by commit; secrets reach steps only through `env:`; each nox session, invoke task
and invoke flag a workflow names exists; actionlint and zizmor find nothing.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, require

pytestmark = pytest.mark.integration

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
PROGRAMS = ("scripts/setup.sh", ".venv/bin/nox", ".venv/bin/invoke")
SHELL_SYNTAX = re.compile(r"[;&|<>`\n]|\$\(")
PINNED_USES = re.compile(r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
PIN = re.compile(
    r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w.-]+)[\w./-]*"
    r"@(?P<commit>[0-9a-f]{40}) # (?P<tag>v\S+)"
)
VARIABLE = re.compile(r"^\$\{?(\w+)\}?$")
MATRIX = re.compile(r"^\$\{\{\s*matrix\.(\w+)\s*\}\}$")
# Permissions each job may hold; every other job reads the repository and nothing more.
PERMISSIONS = {
    ("release.yml", "release"): {"contents": "write", "packages": "write", "id-token": "write"},
    ("release.yml", "prepare"): {"contents": "write"},
    ("release.yml", "build"): {"contents": "read", "packages": "write"},
    ("deploy.yml", "plan"): {"contents": "read", "id-token": "write"},
    ("deploy.yml", "apply"): {"contents": "read", "id-token": "write"},
    ("deploy.yml", "gitops"): {"contents": "read", "id-token": "write"},
}
READ_ONLY = {"contents": "read"}


@dataclass(frozen=True)
class RunStep:
    """One `run:` step, with what it needs to resolve `$VARIABLE` arguments."""

    workflow: str
    job: str
    index: int
    command: str
    env: dict[str, str] = field(default_factory=dict)
    matrix: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.workflow}:{self.job}:{self.index}"

    def argv(self) -> list[str]:
        return shlex.split(self.command)

    def values(self, token: str) -> list[str]:
        """What an argument stands for: itself, or each value of the matrix key behind it."""
        variable = VARIABLE.match(token)
        if variable is None:
            return [token]
        matrix = MATRIX.match(self.env.get(variable.group(1), ""))
        return matrix_values(self.matrix, matrix.group(1)) if matrix else [token]


def matrix_values(matrix: dict[str, Any], key: str) -> list[str]:
    """Every value ``key`` takes in ``matrix``: its own list, or its `include` entries."""
    if key in matrix:
        return [str(v) for v in matrix[key]]
    return [str(entry[key]) for entry in matrix.get("include", []) if key in entry]


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def _steps() -> Iterator[RunStep]:
    for path in WORKFLOWS:
        for job_name, job in _load(path)["jobs"].items():
            matrix = job.get("strategy", {}).get("matrix", {})
            for index, step in enumerate(job.get("steps", [])):
                if "run" in step:
                    env = {**job.get("env", {}), **step.get("env", {})}
                    yield RunStep(path.name, job_name, index, step["run"], env, matrix)


RUN_STEPS = list(_steps())


def _sessions(step: RunStep) -> list[str]:
    argv = step.argv()
    if argv[0] != ".venv/bin/nox":
        return []
    names: list[str] = []
    selecting = False
    for token in argv[1:]:
        if token.startswith("-"):
            selecting = token in ("-s", "--session", "--sessions")
        elif selecting:
            names += step.values(token)
    return names


def _task_call(step: RunStep) -> tuple[str, list[str]] | None:
    """(task, its --flags) of an invoke step; one task per step."""
    argv = step.argv()
    if argv[0] != ".venv/bin/invoke":
        return None
    flags = [t.split("=", 1)[0] for t in argv[2:] if t.startswith("--")]
    return argv[1], flags


def _invoke(*args: str) -> str:
    result = subprocess.run(
        [require("invoke"), *args], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"invoke {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def _flatten(collection: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for entry in collection["tasks"]:
        yield prefix + entry["name"]
    for sub in collection["collections"]:
        if sub["default"]:
            yield prefix + sub["name"]
        yield from _flatten(sub, f"{prefix}{sub['name']}.")


@cache
def _tasks() -> frozenset[str]:
    return frozenset(_flatten(json.loads(_invoke("--list", "--list-format", "json"))))


@cache
def _task_help(task: str) -> str:
    return _invoke("--help", task)


def test_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "deploy.yml", "release.yml"]


@pytest.mark.parametrize("step", RUN_STEPS, ids=lambda s: s.id)
def test_run_steps_only_call_setup_nox_or_invoke(step: RunStep) -> None:
    assert not SHELL_SYNTAX.search(step.command.strip()), f"shell logic in {step.id}"
    assert "${{" not in step.command, f"expression expanded into the shell in {step.id}"
    argv = step.argv()
    assert argv[0] in PROGRAMS, f"{step.id} runs {argv[0]}; allowed: {', '.join(PROGRAMS)}"
    if argv[0] == "scripts/setup.sh":
        assert argv[1:2] in ([], ["--with"]) and len(argv) <= 3, f"{step.id}: {argv}"
        known = {*_setup_parts(), "all", "none"}
        for value in step.values(argv[2]) if len(argv) == 3 else []:
            unknown = set(value.split(",")) - known
            assert unknown == set(), f"{step.id}: scripts/setup.sh has no part {sorted(unknown)}"


@cache
def _setup_parts() -> tuple[str, ...]:
    listed = subprocess.run(
        ["bash", str(REPO / "scripts/setup.sh"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(listed.stdout.split())


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert lines, f"{path.name} uses no action"
    unpinned = [line.strip() for line in lines if not PINNED_USES.match(line)]
    assert unpinned == [], "pin each action by its 40-hex commit with a `# vX.Y.Z` comment"


def test_each_action_is_pinned_to_one_commit_and_tag() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            pin = PIN.match(line)
            if pin is not None:
                pins.setdefault(pin["action"].lower(), set()).add((pin["commit"], pin["tag"]))
    assert pins, "no pinned action found"
    disagree = {action: sorted(found) for action, found in pins.items() if len(found) > 1}
    assert disagree == {}, "pin each action to one commit and tag in every workflow"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege(path: Path) -> None:
    data = _load(path)
    assert data["permissions"] == {}, f"{path.name}: grant permissions per job, none at the top"
    for name, job in data["jobs"].items():
        assert job["permissions"] == PERMISSIONS.get((path.name, name), READ_ONLY), name
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_reach_steps_only_through_env(path: Path) -> None:
    data = _load(path)
    for name, job in data["jobs"].items():
        outside = {k: v for k, v in job.items() if k != "steps"}
        assert "secrets." not in json.dumps(outside), f"{path.name}:{name} outside step env"
        for step in job["steps"]:
            rest = {k: v for k, v in step.items() if k != "env"}
            assert "secrets." not in json.dumps(rest), f"{path.name}:{name} outside step env"


def test_named_sessions_exist_and_every_session_runs_somewhere() -> None:
    nox = subprocess.run(
        [require("nox"), "-l", "--json"], cwd=REPO, capture_output=True, text=True, check=True
    )
    sessions = {s["name"] for s in json.loads(nox.stdout)}
    named = {name for step in RUN_STEPS for name in _sessions(step)}
    assert named, "no workflow runs a nox session"
    missing = sorted(named - sessions)
    assert missing == [], f"sessions the workflows run but nox does not know: {missing}"
    # `bench` measures, it checks nothing; `workflows-run` runs the workflows themselves.
    unrun = sorted(sessions - named - {"bench", "workflows-run"})
    assert unrun == [], f"nox sessions no workflow runs: {unrun}"


def test_jobs_get_their_tools_from_pinned_actions_not_a_container() -> None:
    for path in WORKFLOWS:
        for name, job in _load(path)["jobs"].items():
            assert "container" not in job, f"{path.name}:{name} runs in a container"
            uses = [step.get("uses", "") for step in job["steps"]]
            if any("nox" in step.get("run", "") for step in job["steps"]):
                assert any(u.startswith("actions/setup-python@") for u in uses), name


def test_a_rerun_of_the_release_checks_out_the_branch_tip() -> None:
    release = _load(REPO / ".github/workflows/release.yml")["jobs"]["release"]
    checkout = next(s for s in release["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["ref"] == "${{ github.ref }}"


def test_named_tasks_and_flags_exist() -> None:
    calls = [call for step in RUN_STEPS if (call := _task_call(step)) is not None]
    assert calls, "no workflow runs an invoke task"
    missing = sorted({task for task, _ in calls} - _tasks())
    assert missing == [], f"tasks the workflows call but invoke does not know: {missing}"
    unknown = sorted(
        f"{task} {flag}"
        for task, flags in calls
        for flag in flags
        if not re.search(rf"^  (?:-\w[^,]*, )?{re.escape(flag)}(?:[=\s]|$)", _task_help(task), re.M)
    )
    assert unknown == [], f"flags the tasks do not take: {unknown}"


@pytest.mark.parametrize(
    "argv",
    [["actionlint"], ["zizmor", "--offline", "--no-progress", ".github/workflows"]],
    ids=["actionlint", "zizmor"],
)
def test_linters_find_nothing(argv: list[str]) -> None:
    result = subprocess.run(
        [require(argv[0]), *argv[1:]], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
