"""The affected rules over real commits in a throwaway copy of this repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from releasekit.core import affected, manifest, workspace
from releasekit.core.errors import ReleaseError
from tests.conftest import REPO, copy_repo, git

EVERYTHING = "everything"
SITE = {
    "lint": None,
    "typecheck": ("packages/marketing-site/src",),
    "tests": ("packages/marketing-site/tests",),
    "docker": ("--image", "marketing-site"),
}
SANDBOX_USERS = ("sandbox", "agent-runtime", "cli")


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_repo(tmp_path_factory.mktemp("affected") / "repo")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-qm", "base")
    return root


def _change(root: Path, path: str, how: str) -> None:
    target = root / path
    if how == "edit":
        target.write_text(target.read_text() + "\n")
    elif how == "new":
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("new\n")
    elif how == "delete":
        git(root, "rm", "-q", path)
    else:
        git(root, "mv", path, how)


def _plan_after(root: Path, changes: list[tuple[str, str]], commit: bool) -> affected.Plan:
    """Apply ``changes`` on a branch of the base commit; the plan since the base."""
    git(root, "checkout", "-q", "-f", "main")
    git(root, "clean", "-qfdx")
    git(root, "checkout", "-q", "-B", "change")
    for path, how in changes:
        _change(root, path, how)
    if commit:
        git(root, "add", "-A")
        git(root, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-q", "-m", "c",
            "--allow-empty")  # fmt: skip
    ws = workspace.load(manifest.load(root))
    since = affected.default_since(ws)
    return affected.plan(ws, affected.changed(ws, since), since=since)


def _selected(plan: affected.Plan) -> dict[str, tuple[str, ...] | None] | str:
    return EVERYTHING if plan.everything else plan.sessions


CASES: list[tuple[list[tuple[str, str]], object]] = [
    ([("packages/marketing-site/src/ironcage_marketing_site/builder.py", "edit")], SITE),
    (
        [("packages/sandbox/src/ironcage_sandbox/__init__.py", "edit")],
        {
            "lint": None,
            "typecheck": tuple(f"packages/{p}/src" for p in SANDBOX_USERS),
            "tests": tuple(f"packages/{p}/tests" for p in SANDBOX_USERS),
            "docker": ("--image", "agent-runtime"),
        },
    ),
    (
        [("packages/cli/tests/test_cli_run.py", "delete")],
        {"lint": None, "typecheck": ("packages/cli/src",), "tests": ("packages/cli/tests",)},
    ),
    (
        [("docker/control-panel-api.Dockerfile", "edit")],
        {"lint": None, "docker": ("--image", "control-panel-api"), "security": None},
    ),
    (
        [
            ("docker/control-panel-web.Dockerfile", "edit"),
            ("packages/marketing-site/README.md", "edit"),
        ],
        {
            **SITE,
            "docker": ("--image", "control-panel-web", "--image", "marketing-site"),
            "security": None,
        },
    ),
    (
        [("docker/nginx/default.conf", "new"), ("docker/marketing-site.Dockerfile", "edit")],
        {"lint": None, "docker": None, "security": None},
    ),
    ([("docker/compose.yaml", "edit")], {"lint": None, "pilot": None}),
    (
        [("helm/agent-runtime/templates/hpa.yaml", "edit")],
        {"lint": None, "helm": None, "cluster": None, "gitops": None, "security": None},
    ),
    (
        [("helm/control-panel/values-dev.yaml", "edit")],
        {"lint": None, "helm": None, "security": None},
    ),
    (
        [("terraform/modules/network/main.tf", "edit")],
        {"lint": None, "terraform": None, "security": None},
    ),
    ([(".github/workflows/ci.yml", "edit")], {"lint": None, "workflows": None}),
    ([("docs/architecture.md", "edit"), ("README.md", "edit")], {"lint": None}),
    ([("tests/unit/test_version.py", "edit")], {"lint": None, "tests": ("tests/unit",)}),
    ([("tests/integration/helm/test_charts.py", "edit")], {"lint": None, "helm": None}),
    ([("tests/e2e/test_prerelease.py", "edit")], {"lint": None, "e2e": None}),
    ([("bench/compare.py", "edit")], {"lint": None}),
    (
        [("packages/cli/README.md", "docs/cli.md")],
        {"lint": None, "typecheck": ("packages/cli/src",), "tests": ("packages/cli/tests",)},
    ),
    ([("releasekit/core/run.py", "edit")], EVERYTHING),
    ([("noxfile.py", "edit")], EVERYTHING),
    ([("pyproject.toml", "edit")], EVERYTHING),
    ([("uv.lock", "edit")], EVERYTHING),
    ([("docs/architecture.md", "edit"), ("tools/new.sh", "new")], EVERYTHING),
    ([("packages/newcomer/src/x.py", "new")], EVERYTHING),
    ([("tests/integration/newcomer/test_x.py", "new")], EVERYTHING),
    ([], {"lint": None}),
]


@pytest.mark.parametrize(("changes", "expected"), CASES)
def test_each_kind_of_change_selects_its_sessions_and_folders(
    copy: Path, changes: list[tuple[str, str]], expected: object
) -> None:
    plan = _plan_after(copy, changes, commit=True)
    assert _selected(plan) == expected
    placed = {r.path for r in plan.reasons}
    assert all(path in placed for path in plan.paths)


@pytest.mark.parametrize(("changes", "expected"), [CASES[0], CASES[-3], CASES[-4]])
def test_changes_not_yet_committed_count_too(
    copy: Path, changes: list[tuple[str, str]], expected: object
) -> None:
    assert _selected(_plan_after(copy, changes, commit=False)) == expected


def test_the_plan_says_why_for_each_session(copy: Path) -> None:
    plan = _plan_after(
        copy, [("packages/marketing-site/src/ironcage_marketing_site/builder.py", "edit")], True
    )
    lines = "\n".join(plan.lines())
    assert "runs docker -- --image marketing-site" in lines
    assert re.search(r"tests -- packages/marketing-site/tests: packages/marketing-site/src/", lines)
    unknown = _plan_after(copy, [("tools/new.sh", "new")], True)
    assert unknown.lines()[1] == "runs every session of `nox`:"
    assert "tools/new.sh (`**`: everything (no rule places it))" in "\n".join(unknown.lines())


def test_an_unknown_release_branch_names_the_fix(copy: Path) -> None:
    ws = workspace.load(manifest.load(copy))
    bad = workspace.Workspace(manifest=_with_branch(ws.manifest, "trunk"), packages=ws.packages)
    with pytest.raises(ReleaseError, match=r"release branch `trunk`.*--since REF"):
        affected.default_since(bad)


def _with_branch(m: manifest.Manifest, branch: str) -> manifest.Manifest:
    from dataclasses import replace

    return replace(m, branch=branch)


def test_the_readme_shows_the_rules_table() -> None:
    assert affected.rules_table() in (REPO / "README.md").read_text(encoding="utf-8")


def test_every_session_the_rules_name_is_a_nox_session() -> None:
    text = (REPO / "noxfile.py").read_text(encoding="utf-8")
    sessions = set(re.findall(r'@nox\.session\(name="([\w-]+)"', text))
    sessions |= set(re.findall(r"@nox\.session\((?!name=)[^)]*\)\ndef (\w+)", text))
    named = {affected.ALWAYS, *affected.FOLDER_SESSIONS.values()}
    named |= {name for _, expected in CASES if isinstance(expected, dict) for name in expected}
    assert named <= sessions, named - sessions
