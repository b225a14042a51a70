from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from releasekit.core import changelog, manifest, workspace

from .conftest import git


@pytest.mark.parametrize(
    ("subject", "body", "bump", "type_", "scope"),
    [
        ("fix: handle empty input", "", "patch", "fix", None),
        ("feat(cli): add agents list", "", "minor", "feat", "cli"),
        ("feat!: drop python 3.10", "", "major", "feat", None),
        (
            "refactor(core): split module",
            "BREAKING CHANGE: run() is async",
            "major",
            "refactor",
            "core",
        ),
        ("perf: faster start", "", "patch", "perf", None),
        ("docs: typo", "", None, "docs", None),
        ("Merge branch 'x'", "", None, None, None),
    ],
)
def test_parse_commit(subject: str, body: str, bump: str | None, type_, scope) -> None:
    commit = changelog.parse_commit("a" * 40, subject, body)
    assert (commit.bump, commit.type, commit.scope) == (bump, type_, scope)


@pytest.mark.parametrize(
    ("subjects", "expected"),
    [
        (["docs: a", "chore: b"], None),
        (["fix: a", "docs: b"], "patch"),
        (["fix: a", "feat: b"], "minor"),
        (["feat: a", "fix!: b"], "major"),
    ],
)
def test_level_is_the_highest(subjects: list[str], expected: str | None) -> None:
    assert changelog.level([changelog.parse_commit("0" * 40, s) for s in subjects]) == expected


def _commit(root: Path, path: str, message: str) -> None:
    target = root / path
    target.write_text(target.read_text() + "\n# edit\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def test_history_since_last_tag_gives_bump_and_grouped_notes(make_repo) -> None:
    root = make_repo()
    git(root, "tag", "-a", "v1.4.2", "-m", "v1.4.2")
    _commit(root, "packages/core/src/demo_core/__init__.py", "fix: off-by-one in limits")
    _commit(root, "packages/app/src/demo_app/__init__.py", "feat: task budgets")
    _commit(root, "packages/site/src/demo_site/__init__.py", "docs(site): wording")
    ws = workspace.load(manifest.load(root))
    since = changelog.since_ref(ws)
    assert since == "v1.4.2"
    commits = changelog.collect(root, since)
    assert [c.subject for c in commits] == [
        "fix: off-by-one in limits",
        "feat: task budgets",
        "docs(site): wording",
    ]
    assert changelog.level(commits) == "minor"
    notes = changelog.render(ws, "1.5.0", commits, today=date(2026, 1, 2))
    assert notes.startswith("## 1.5.0 (2026-01-02)")
    features = notes.index("### Features")
    fixes = notes.index("### Bug fixes")
    other = notes.index("### Other changes")
    assert features < fixes < other
    assert "- **app**\n  - task budgets (" in notes
    assert "- **core**\n  - off-by-one in limits (" in notes
    assert "- **site**\n  - wording (" in notes


def test_no_tag_means_all_history(make_repo) -> None:
    root = make_repo()
    ws = workspace.load(manifest.load(root))
    assert changelog.since_ref(ws) is None
    assert [c.subject for c in changelog.collect(root, None)] == ["chore: initial"]
