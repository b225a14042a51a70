"""The GitHub workflows, run here by act in a runner image built here.

ci's `lint, typecheck, tests` job and the release workflow's dry run each run in a clean
clone of HEAD (on branch main, with a local bare remote) exactly as the workflow files say:
the pinned actions, `scripts/setup.sh --with ...`, then the nox sessions or invoke tasks.

The actions' code comes from github.com, or, when RELEASEKIT_ACTIONS_MIRROR names a folder
of snapshots of the actions' repositories (``OWNER+REPO/repo``, bare git repositories),
from clones of those at the pinned commits, with act offline. Runs one job at a time; each
takes minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, git, require

pytestmark = pytest.mark.integration

IMAGE = "releasekit-act-runner:local"
LOCAL_BASE = "releasekit-base/python:3.11-bookworm"
PIN = re.compile(r"uses:\s+([\w.-]+)/([\w.-]+)@([0-9a-f]{40})")
HOST_CERTIFICATES = Path("/usr/local/share/ca-certificates")
TIMEOUT = 3600
HELM_VERSION = "4.3.2"


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("docker"), *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def runner_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The runner image, built from runner.Dockerfile on the local or the public base."""
    context = tmp_path_factory.mktemp("runner-image")
    shutil.copy(Path(__file__).with_name("runner.Dockerfile"), context / "Dockerfile")
    certificates = context / "certificates"
    certificates.mkdir()
    for crt in sorted(HOST_CERTIFICATES.glob("*.crt")):
        shutil.copy(crt, certificates / crt.name)
    # The helm the workflows pin, where azure/setup-helm looks before downloading.
    helm = require("helm")
    shown = subprocess.run([helm, "version", "--short"], capture_output=True, text=True)
    assert shown.stdout.startswith(f"v{HELM_VERSION}"), f"{helm} is {shown.stdout}"
    tools = context / "toolcache" / "helm" / HELM_VERSION / "x64"
    tools.mkdir(parents=True)
    shutil.copy(helm, tools / "helm")
    (tools.parent / "x64.complete").touch()
    base = (
        LOCAL_BASE if _docker("image", "inspect", LOCAL_BASE, check=False).returncode == 0 else ""
    )
    build_args = ["--build-arg", f"BASE={base}"] if base else []
    built = subprocess.run(
        [require("docker"), "build", "--quiet", "--network", "host", *build_args,
         "--tag", IMAGE, str(context)],
        capture_output=True, text=True, check=False, env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    # act fills its tool-cache volume from the image only when it creates it.
    _docker("volume", "rm", "act-toolcache", check=False)
    return IMAGE


@pytest.fixture(scope="module")
def action_cache(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """act's offline cache: each pinned action cloned from its snapshot; None without one."""
    mirror = os.environ.get("RELEASEKIT_ACTIONS_MIRROR", "")
    if not mirror:
        return None
    cache = tmp_path_factory.mktemp("act-actions")
    pins = {
        m.groups()
        for p in (REPO / ".github/workflows").glob("*.yml")
        for m in PIN.finditer(p.read_text())
    }
    for owner, name, commit in sorted(pins):
        # GitHub's names are case-insensitive: `azure/setup-helm` is Azure's repository.
        wanted = f"{owner}+{name}".lower()
        found = [d for d in Path(mirror).iterdir() if d.name.lower() == wanted]
        snapshot = found[0] / "repo" if found else Path(mirror) / wanted / "repo"
        assert snapshot.is_dir(), f"{snapshot} is missing: snapshot {owner}/{name} there first"
        clone = cache / f"{owner}-{name}@{commit}"
        git(cache, "clone", "-q", str(snapshot), str(clone))
        git(clone, "remote", "set-url", "origin", f"https://github.com/{owner}/{name}")
        git(clone, "checkout", "-q", commit)
    return cache


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """HEAD of this repository on branch main, its origin a bare repository inside it.

    act copies the folder into the job's container, so the job changes nothing here.
    """
    root = tmp_path / "repo"
    git(tmp_path, "clone", "-q", str(REPO), str(root))
    git(root, "checkout", "-q", "-B", "main")
    remote = root / ".git" / "origin.git"
    git(root, "clone", "-q", "--bare", str(root), str(remote))
    git(root, "remote", "set-url", "origin", str(remote))
    git(root, "fetch", "-q", "origin")
    git(root, "branch", "-q", "--set-upstream-to", "origin/main")
    return root


def _act(
    clone: Path,
    image: str,
    cache: Path | None,
    event: str,
    workflow: str,
    job: str,
    *inputs: str,
) -> str:
    argv = [
        require("act"), event, "-W", f".github/workflows/{workflow}", "-j", job,
        "-P", f"ubuntu-24.04={image}", "--pull=false", "--rm",
        "--artifact-server-path", str(clone.parent / "artifacts"),
    ]  # fmt: skip
    if cache is not None:
        argv += ["--action-offline-mode", "--action-cache-path", str(cache)]
    for given in inputs:
        argv += ["--input", given]
    result = subprocess.run(
        argv, cwd=clone, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Job succeeded" in output, output[-6000:]
    return output


def test_ci_lint_typecheck_tests_job(
    clone: Path, runner_image: str, action_cache: Path | None
) -> None:
    output = _act(clone, runner_image, action_cache, "push", "ci.yml", "checks")
    for session in ("lint", "typecheck", "tests"):
        assert f"Session {session} was successful" in output


def test_release_dry_run_job(clone: Path, runner_image: str, action_cache: Path | None) -> None:
    output = _act(
        clone, runner_image, action_cache, "workflow_dispatch", "release.yml", "plan",
        "dry_run=true", "part=auto",
    )  # fmt: skip
    assert "dry run: nothing was changed" in output
