from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from releasekit.core import git, run
from tests.conftest import git as sh_git


@pytest.fixture
def authenticated(tmp_path: Path) -> Iterator[Path]:
    sh_git(tmp_path, "init", "-q", "-b", "main")
    sh_git(tmp_path, "remote", "add", "origin", "https://git.example.test/org/repo.git")
    git.authenticate(tmp_path, "origin", "tok-5e2a91c7")
    yield tmp_path
    git._auth.clear()


def test_git_calls_carry_the_auth_header(authenticated: Path) -> None:
    found = git._git(authenticated, "config", "--get-regexp", r"http\..*\.extraheader")
    assert found.startswith("http.https://git.example.test/.extraheader AUTHORIZATION: basic ")
    assert run.redact(found) == "http.https://git.example.test/.extraheader ***\n"


def test_no_other_tool_sees_the_auth_header(authenticated: Path) -> None:
    dump = "import json, os; print(json.dumps(dict(os.environ)))"
    env = json.loads(run.Runner(echo=False)([sys.executable, "-c", dump]).stdout)
    assert not [k for k in env if k.startswith("GIT_CONFIG_")]
    assert not [v for v in env.values() if "AUTHORIZATION" in v]
