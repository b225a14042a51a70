"""The order the end-to-end modules are handed to pytest-xdist's workers.

With ``--dist loadfile`` each worker is given the next two modules in collection order at
the start, then the next one each time it finishes one. Left in file-name order, the
longest module (test_release.py, one chain of releases) came third and ran last on a
worker that already had one of the long ones, so one worker ran for minutes after the
other had stopped. Here the longest modules come first, paired so that each worker starts
with one long and one short module. Within a module the order is never changed: its tests
build on each other.
"""

from __future__ import annotations

import pytest

# Longest first, as measured on two workers; a module not listed runs after these.
ORDER = (
    "test_release.py",
    "test_prerelease.py",
    "test_affected.py",
    "test_independent_release.py",
    "test_release_cluster.py",
    "test_split_release.py",
    "test_independent.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(ORDER)}
    items.sort(key=lambda item: rank.get(item.path.name, len(ORDER)))  # stable
