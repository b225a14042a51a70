"""helm for every test here, and a scratch copy of the charts to package and edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, require

CHARTS = ("agent-runtime", "control-panel")


@pytest.fixture(scope="module", autouse=True)
def helm() -> str:
    return require("helm")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A scratch root holding a copy of helm/, so packages and edits never touch the repository."""
    shutil.copytree(REPO / "helm", tmp_path / "helm")
    return tmp_path
