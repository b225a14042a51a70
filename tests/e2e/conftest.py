"""The e2e modules in two groups of about equal length, one group per worker.

Each module releases its own sandbox copy, so any module may run beside any other. With
`--dist loadgroup` (the e2e session) a group runs on one worker: the release chain and the
cluster release on one, every other module on the other. Left to pytest-xdist's own order
(modules with the most tests first, the next module fetched while two tests remain), the
chain's longest tests ran last and the run waited on one worker.
"""

from __future__ import annotations

import pytest

# Seconds on 2 cores: test_release.py about 600 and test_release_cluster.py about 100;
# the others together about 700.
CHAIN = ("test_release.py", "test_release_cluster.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = "chain" if item.path.name in CHAIN else "others"
        item.add_marker(pytest.mark.xdist_group(group))
