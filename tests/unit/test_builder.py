"""The provenance a release states depends on the release only: a re-run states the same."""

from __future__ import annotations

import pytest

from releasekit.publish import builder, supply_chain

COMMIT = "c" * 40


def _record() -> supply_chain.Record:
    return supply_chain.Record(
        "1.5.0",
        COMMIT,
        images=(supply_chain.ImageRecord("api", "r/x/api", "sha256:" + "a" * 64, ("1.5.0",)),),
        files={"bin/ironcage": "b" * 64},
    )


def _facts() -> dict[str, object]:
    """What build_facts returns in a release: the commit's time for both times."""
    when = builder.stamp(1_767_225_600)
    return {
        "target": "sandbox",
        "options": {"part": None},
        "remote": "/r.git",
        "started": when,
        "finished": when,
        "tools": {"helm": "v4"},
        "base_images": {},
    }


@pytest.mark.parametrize(
    "runs",
    [
        ({}, {}),
        (
            {"GITHUB_RUN_ID": "1", "GITHUB_RUN_ATTEMPT": "1"},
            {"GITHUB_RUN_ID": "2", "GITHUB_RUN_ATTEMPT": "3"},
        ),
    ],
)
def test_two_runs_of_a_release_state_the_same(
    monkeypatch: pytest.MonkeyPatch, runs: tuple[dict[str, str], dict[str, str]]
) -> None:
    statements = []
    for env in runs:
        if env:
            monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
            monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
            monkeypatch.setenv("GITHUB_WORKFLOW_REF", "o/r/.github/workflows/release.yml@v1.5.0")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        statements.append(supply_chain._statement(_record(), _facts()))
    assert statements[0] == statements[1]
    run = statements[0]["predicate"]["runDetails"]
    assert run["metadata"]["startedOn"] == run["metadata"]["finishedOn"] == "2026-01-01T00:00:00Z"
    assert "1.5.0" in run["metadata"]["invocationId"]


def test_the_local_builder_names_neither_host_nor_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_WORKFLOW_REF"):
        monkeypatch.delenv(name, raising=False)
    assert builder.builder("1.5.0", COMMIT) == (
        "https://releasekit.invalid/local",
        f"local:v1.5.0@{COMMIT}",
    )


@pytest.mark.parametrize(
    ("epoch", "shown"), [(0, "1970-01-01T00:00:00Z"), (1_767_225_600, "2026-01-01T00:00:00Z")]
)
def test_stamp(epoch: int, shown: str) -> None:
    assert builder.stamp(epoch) == shown
