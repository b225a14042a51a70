"""The command layer answers fast: listing tasks and planning a release import nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

# Libraries that cost tenths of a second to import; none may load to list tasks or parse flags.
HEAVY = (
    "docker",
    "kubernetes",
    "kubernetes_validate",
    "jsonschema",
    "requests",
    "urllib3",
    "rich.live",
    "rich.progress",
    "semver",
    "cyclonedx",
    "twine",
)
# What a release plan (`invoke release --dry-run`) needs must not load the SDKs either.
SDKS = ("docker", "kubernetes", "kubernetes_validate", "jsonschema", "requests")


def _loaded_after(code: str, watched: tuple[str, ...]) -> list[str]:
    """The modules of ``watched`` in sys.modules after a fresh interpreter runs ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in {list(watched)!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    loaded: list[str] = json.loads(out.strip().splitlines()[-1])
    return loaded


def test_importing_tasks_loads_nothing_heavy() -> None:
    assert _loaded_after("import tasks", HEAVY) == []


def test_invoke_list_loads_nothing_heavy() -> None:
    code = (
        "from invoke.main import program\n"
        "program.run(['invoke', '--list'], exit=False)\n"
        "program.run(['invoke', '--help', 'release'], exit=False)"
    )
    assert _loaded_after(code, HEAVY) == []


@pytest.mark.parametrize(
    "module",
    ["releasekit.release.pipeline", "releasekit.release.preflight", "releasekit.publish.index"],
)
def test_the_release_plan_loads_no_sdk(module: str) -> None:
    assert _loaded_after(f"import {module}", SDKS) == []


def test_task_defaults_match_the_engine() -> None:
    """The command modules copy a few engine constants so that listing tasks stays light."""
    from releasekit.commands import deploy as deploy_commands
    from releasekit.commands import helm as helm_commands
    from releasekit.deploy import helm, pilot
    from releasekit.publish import charts

    assert helm_commands.ENVIRONMENTS == charts.ENVIRONMENTS
    assert helm_commands.DEFAULT_TIMEOUT == helm.DEFAULT_TIMEOUT
    assert deploy_commands.DEFAULT_TIMEOUT == helm.DEFAULT_TIMEOUT
    assert deploy_commands.HEALTH_TIMEOUT == pilot.HEALTH_TIMEOUT


def _tasks(collection: object) -> list[object]:
    found = list(getattr(collection, "tasks", {}).values())
    for sub in getattr(collection, "collections", {}).values():
        found += _tasks(sub)
    return found


def test_every_short_flag_is_a_letter() -> None:
    sys.path.insert(0, str(REPO))
    try:
        import tasks
    finally:
        sys.path.remove(str(REPO))
    odd = [
        (getattr(t, "name", "?"), name)
        for t in _tasks(tasks.ns)
        for argument in t.get_arguments()  # type: ignore[attr-defined]
        for name in argument.names
        if len(name) == 1 and not name.isalnum()
    ]
    assert odd == []
