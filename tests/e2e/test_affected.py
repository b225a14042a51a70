"""`nox -s affected` in a fresh copy of this repository, after a one-line fix in marketing-site."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_repo, git, require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BUILDER = "packages/marketing-site/src/ironcage_marketing_site/builder.py"


def test_a_marketing_site_fix_runs_lint_its_tests_and_its_image_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    require("docker")
    nox = require("nox")
    root = copy_repo(tmp_path_factory.mktemp("affected") / "repo")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.email=a@example.com", "-c", "user.name=A", "commit", "-qm", "base")
    git(root, "checkout", "-q", "-b", "fix")
    source = root / BUILDER
    text = source.read_text()
    fixed = text.replace('"""Render the site:', '"""Render this site:', 1)
    assert fixed != text
    source.write_text(fixed)
    git(root, "-c", "user.email=a@example.com", "-c", "user.name=A", "commit", "-qam", "fix: x")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOX", "RELEASEKIT_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    proc = subprocess.run(
        [nox, "-s", "affected"], cwd=root, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=850, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    ran = re.findall(r"^nox > \* ([\w-]+): success", out, re.M)
    assert ran == ["affected", "lint", "typecheck", "tests", "docker"], out[-3000:]
    assert f"docker -- --image marketing-site: {BUILDER}" in out
    # Every pytest session runs side by side (pytest-xdist options first, then the paths).
    pytest_argv = r"^nox > pytest (?:--numprocesses auto --dist loadfile )?"
    assert re.search(pytest_argv + r"packages/marketing-site/tests$", out, re.M)
    assert "nox > mypy --ignore-missing-imports packages/marketing-site/src\n" in out
    assert re.search(r"^nox > hadolint \S+/docker/marketing-site\.Dockerfile$", out, re.M)
    assert re.search(pytest_argv + r"tests/integration/docker --image marketing-site$", out, re.M)
    docker = out.rpartition("tests/integration/docker --image marketing-site\n")[2]
    assert re.search(r"\d+ passed", docker), docker[-3000:]
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/integration/docker", "--image", "marketing-site",
         "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=root, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ids = [line for line in listed.splitlines() if "::" in line]
    assert ids and all("marketing-site" in i.replace("_", "-") for i in ids), listed
