from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.build.artifacts import wheel_project, wheels_of

WHEELS = [
    "ironcage_cli-0.3.0.dev1-py3-none-any.whl",
    "ironcage_cli-0.3.0rc1-py3-none-any.whl",
    "ironcage_sandbox-0.3.0rc1-py3-none-any.whl",
    "ironcage_cli-0.3.0-py3-none-any.whl",
    "ironcage_cli-0.3.0.post1-py3-none-any.whl",
    "not-a-wheel.whl",
]


@pytest.mark.parametrize(
    ("version", "dists", "expected"),
    [
        ("0.3.0-dev.1", None, ["ironcage_cli-0.3.0.dev1-py3-none-any.whl"]),
        (
            "0.3.0-rc.1",
            None,
            [
                "ironcage_cli-0.3.0rc1-py3-none-any.whl",
                "ironcage_sandbox-0.3.0rc1-py3-none-any.whl",
            ],
        ),
        ("0.3.0-rc.1", ["Ironcage.Sandbox"], ["ironcage_sandbox-0.3.0rc1-py3-none-any.whl"]),
        ("0.3.0", ["ironcage-cli"], ["ironcage_cli-0.3.0-py3-none-any.whl"]),
        ("0.3.0-rc.2", None, []),
    ],
)
def test_wheels_of_a_release_are_found_by_their_pep_440_version(
    tmp_path: Path, version: str, dists: list[str] | None, expected: list[str]
) -> None:
    for name in WHEELS:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in wheels_of(tmp_path, version, dists)] == expected


def test_wheel_project_is_the_normalized_name() -> None:
    assert wheel_project(Path("Ironcage_Agent_Runtime-1.0.0rc1-py3-none-any.whl")) == (
        "ironcage-agent-runtime"
    )
