"""What helm's history says became of a release after a failed upgrade (no cluster needed)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from releasekit.deploy import helm_release


def _rev(number: int, status: str, version: str) -> dict[str, Any]:
    return {"revision": number, "status": status, "app_version": version}


ONE = _rev(1, "deployed", "1.0.0")


@pytest.mark.parametrize(
    ("history", "before", "expected"),
    [
        (
            [_rev(1, "deployed", "1.0.0"), _rev(2, "pending-upgrade", "1.1.0")],
            ONE,
            r"which helm left pending-upgrade at revision 2 \(helm stopped before finishing; "
            r"revision 1 at 1\.0\.0 is the deployed one\)\. The next deploy recovers it",
        ),
        (
            [_rev(1, "pending-install", "1.1.0")],
            None,
            r"left pending-install at revision 1 .*no revision of it is deployed",
        ),
        (
            [_rev(1, "superseded", "1.0.0"), _rev(2, "failed", "1.1.0"),
             _rev(3, "deployed", "1.0.0")],
            ONE,
            r"which helm rolled back by itself to its previous version 1\.0\.0 \(revision 3\)",
        ),
        ([ONE], ONE, r"helm made no new revision: it is still at 1\.0\.0 \(revision 1\)"),
        (
            [_rev(1, "superseded", "1.0.0"), _rev(2, "failed", "1.1.0")],
            ONE,
            r"whose last revision 2 is failed \(no revision of it is deployed\)",
        ),
        ([], None, r"not installed \(helm made no revision of it\)"),
    ],
)  # fmt: skip
def test_the_state_after_a_failure_is_what_helm_records(
    history: list[dict[str, Any]], before: dict[str, Any] | None, expected: str
) -> None:
    said = helm_release.state_after_failure(history, before, "1.0.0")
    assert re.search(expected, said), said


@pytest.mark.parametrize(
    ("history", "good"),
    [
        ([_rev(1, "deployed", "1.0.0"), _rev(2, "pending-upgrade", "1.1.0")], 1),
        ([_rev(1, "superseded", "1.0.0"), _rev(2, "pending-rollback", "1.0.0")], 1),
        ([_rev(1, "pending-install", "1.0.0")], None),
    ],
)
def test_the_last_good_revision_is_the_deployed_else_the_newest_that_ran(
    history: list[dict[str, Any]], good: int | None
) -> None:
    found = helm_release.last_good(history)
    assert (found["revision"] if found else None) == good
