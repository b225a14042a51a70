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
import yaml

from tests.conftest import REPO, git, require

pytestmark = pytest.mark.integration

IMAGE = "releasekit-act-runner:local"
LOCAL_BASE = "releasekit-base/python:3.11-bookworm"
PIN = re.compile(r"uses:\s+([\w.-]+)/([\w.-]+)@([0-9a-f]{40})")
HOST_CERTIFICATES = Path("/usr/local/share/ca-certificates")
TIMEOUT = 3600
HELM_VERSION = "4.3.2"
ORIGIN = "https://github.com/releasekit-act/monorepo"


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
    """act's offline cache (filled per job by ``_cache_actions``); None without a mirror."""
    if not os.environ.get("RELEASEKIT_ACTIONS_MIRROR", ""):
        return None
    return tmp_path_factory.mktemp("act-actions")


def _cache_actions(cache: Path, workflow: str, job: str) -> None:
    """Clone each action ``job`` uses from its snapshot, at its pinned commit."""
    mirror = Path(os.environ["RELEASEKIT_ACTIONS_MIRROR"])
    steps = yaml.safe_load((REPO / ".github/workflows" / workflow).read_text())["jobs"][job]
    for step in steps["steps"]:
        pin = PIN.match(f"uses: {step.get('uses', '')}")
        if pin is None:
            continue
        owner, name, commit = pin.groups()
        clone = cache / f"{owner}-{name}@{commit}"
        if clone.is_dir():
            continue
        # GitHub's names are case-insensitive: `azure/setup-helm` is Azure's repository.
        wanted = f"{owner}+{name}".lower()
        found = [d for d in mirror.iterdir() if d.name.lower() == wanted]
        snapshot = found[0] / "repo" if found else mirror / wanted / "repo"
        assert snapshot.is_dir(), f"{snapshot} is missing: snapshot {owner}/{name} there first"
        git(cache, "clone", "-q", "--no-checkout", str(snapshot), str(clone))
        git(clone, "remote", "set-url", "origin", f"https://github.com/{owner}/{name}")
        git(clone, "checkout", "-q", commit)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """HEAD of this repository on branch main; its origin the bare repository beside it.

    act copies the folder into the job's container, so the job changes nothing here. origin
    is named as a GitHub repository (act runs actions/checkout only for one); in the job,
    git reaches that name at the bare repository, mounted at the same path (see ``_act``).
    """
    root, remote = tmp_path / "repo", tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", str(REPO), str(root))
    git(root, "checkout", "-q", "-B", "main")
    git(tmp_path, "clone", "-q", "--bare", str(root), str(remote))
    git(root, "remote", "set-url", "origin", ORIGIN)
    git(root, "fetch", "-q", str(remote), "+main:refs/remotes/origin/main")
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
        _cache_actions(cache, workflow, job)
        argv += ["--action-offline-mode", "--action-cache-path", str(cache)]
    for given in inputs:
        argv += ["--input", given]
    remote = clone.parent / "origin.git"
    argv += ["--container-options", f"-v {remote}:{remote}"]
    argv += ["--env", "GIT_CONFIG_COUNT=1", "--env", f"GIT_CONFIG_KEY_0=url.{remote}.insteadOf"]
    argv += ["--env", f"GIT_CONFIG_VALUE_0={ORIGIN}"]
    # actions/checkout with a `ref` fetches for real (from the bare repository, as above)
    # and insists on a token, which nothing here checks.
    argv += ["--secret", "GITHUB_TOKEN=act-local-token"]
    result = subprocess.run(
        argv, cwd=clone, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    log = clone.parent / f"act-{workflow}-{job}.log"
    log.write_text(output, encoding="utf-8")
    assert result.returncode == 0, f"the whole output is in {log}\n{output[-6000:]}"
    assert "Job succeeded" in output, f"the whole output is in {log}\n{output[-6000:]}"
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
    # `part` is `auto`: the bump comes from the conventional commits.
    assert re.search(r"\| version \S+ -> \S+ \((major|minor|patch) bump from", output), output
