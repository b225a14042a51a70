"""The whole release into the sandbox, for real, in a fresh copy of this repository.

Order matters: the module walks one repository through a dry run, refused releases, a
release killed half-way and resumed, the checks of everything it published, a second
release and a rollback. Every invocation carries canary secrets that must never show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import venv
from pathlib import Path
from typing import Any

import pytest

from releasekit import sandbox
from tests.conftest import copy_repo, require
from tests.conftest import git as _git

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

CANARY_TWINE = "canary-twine-5b0e7c1d"
CANARY_REGISTRY = "canary-registry-8f3a2e6b"
IMAGES = ("agent-runtime", "control-panel-api", "control-panel-web", "marketing-site")
OUTPUTS: list[str] = []


def git(repo: Path, *args: str) -> str:
    return _git(repo, *args).strip()


class Repo:
    """A fresh copy of this repository with its own sandbox, pilot port and project."""

    def __init__(self, path: Path, port: int) -> None:
        self.path = path
        self.port = port

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEKIT_")}
        env.update(
            PILOT_PORT=str(self.port),
            PILOT_PROJECT=f"ironcage-e2e-{self.port}",
            TWINE_PASSWORD=CANARY_TWINE,
            REGISTRY_PASSWORD=CANARY_REGISTRY,
            PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        )
        env.update(extra)
        return env

    def invoke(self, *args: str, ok: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=self.path,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=1200,
            stdin=subprocess.DEVNULL,
        )
        OUTPUTS.extend([proc.stdout, proc.stderr])
        if ok and proc.returncode != 0:
            pytest.fail(
                f"invoke {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def state(self) -> dict[str, Any]:
        return json.loads((self.path / "build/release/state.json").read_text())

    def sandbox(self) -> dict[str, Any]:
        return json.loads(self.invoke("sandbox.status", "--json").stdout)

    def commit(self, relpath: str, message: str) -> None:
        target = self.path / relpath
        target.write_text(target.read_text() + "\n# changed\n")
        git(self.path, "add", "-A")
        git(self.path, "commit", "-qm", message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory):
    for tool in ("docker", "helm", "terraform", "docker-registry", "docker-compose"):
        require(tool)
    path = copy_repo(tmp_path_factory.mktemp("e2e") / "repo")
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "e2e@example.com")
    git(path, "config", "user.name", "e2e")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "feat: first release of the monorepo")
    r = Repo(path, sandbox.free_port())
    yield r
    r.invoke("sandbox.down", "--purge", ok=False)


def _index(repo: Repo) -> list[str]:
    folder = repo.path / ".sandbox/pypi/packages"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _catalog(host: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{host}/v2/_catalog") as answer:
        return json.loads(answer.read())


def _snapshot(repo: Repo) -> tuple[str, str, list[str], str]:
    status = git(repo.path, "status", "--porcelain", "--untracked-files=all")
    remote = repo.path / ".sandbox/remote.git"
    refs = git(remote, "for-each-ref") if remote.exists() else ""
    return (
        git(repo.path, "rev-parse", "HEAD") + status,
        refs,
        _index(repo),
        str(sorted((repo.path / "dist").rglob("*")) if (repo.path / "dist").exists() else []),
    )


def test_dry_run_changes_nothing(repo: Repo) -> None:
    repo.invoke("sandbox.up")
    host = repo.sandbox()["registry_host"]
    before, catalog = _snapshot(repo), _catalog(host)
    proc = repo.invoke("release", "--dry-run")
    assert "version 0.1.0 -> 0.2.0" in proc.stdout
    assert f"image {host}/ironcage/control-panel-api: 0.2.0, 0.2, 0, latest" in proc.stdout
    assert "$ git tag -a v0.2.0" in proc.stdout
    assert _snapshot(repo) == before
    assert _catalog(host) == catalog
    assert not (repo.path / "build/release/state.json").exists()


@pytest.mark.parametrize(
    ("setup", "args", "extra", "message"),
    [
        ("dirty", (), {}, r"uncommitted changes \(README\.md\)"),
        ("branch", (), {}, r"Releases are made from branch `main`.*`topic` is checked out"),
        ("none", ("--to", "0.1.0"), {}, r"`0\.1\.0` is not higher than the current version"),
        ("none", ("--part", "huge"), {}, r"Unknown --part `huge`"),
        (
            "none",
            ("--target", "production", "--env", "none"),
            {"TWINE_USERNAME": ""},
            r"TWINE_USERNAME, which is not set",
        ),
        ("none", ("--env", "moon"), {}, r"Unknown environment `moon`.*pilot"),
    ],
)
def test_preflight_refuses_and_changes_nothing(repo: Repo, setup, args, extra, message) -> None:
    import re

    if setup == "dirty":
        (repo.path / "README.md").write_text("edited\n", encoding="utf-8")
    if setup == "branch":
        git(repo.path, "switch", "-q", "-c", "topic")
    before = _snapshot(repo)
    try:
        proc = repo.invoke("release", "--yes", *args, ok=False, **extra)
        assert proc.returncode != 0
        assert re.search(message, proc.stdout + proc.stderr, re.S), proc.stderr
        assert _snapshot(repo) == before
        assert not (repo.path / "build/release/state.json").exists()
    finally:
        git(repo.path, "checkout", "-q", "--", ".")
        if setup == "branch":
            git(repo.path, "switch", "-q", "main")
            git(repo.path, "branch", "-q", "-D", "topic")


def test_killed_release_resumes_and_publishes_once(repo: Repo) -> None:
    remote = repo.path / ".sandbox/remote.git"
    # Killed while writing the version sites, before the release commit.
    killed = repo.invoke("release", "--yes", ok=False, RELEASEKIT_FAULT="kill-at:prepare:written")
    assert killed.returncode == -9
    assert git(repo.path, "status", "--porcelain") != ""
    assert repo.state()["version"] == "0.2.0"
    # A new release while one is unfinished is refused.
    refused = repo.invoke("release", "--yes", ok=False)
    assert "release --resume" in refused.stderr
    # Killed again after each of these steps; every resume finishes one more.
    for step in ("prepare", "build", "publish-python", "publish-images", "tag", "deploy"):
        killed = repo.invoke(
            "release", "--resume", "--yes", ok=False, RELEASEKIT_FAULT=f"kill-after:{step}"
        )
        assert killed.returncode == -9, killed.stderr
        assert step in repo.state()["steps"]
        assert git(remote, "tag") == ("v0.2.0" if step in {"tag", "deploy"} else "")
    # As if killed inside the upload: the step is not recorded, its files are on the index.
    state = repo.state()
    uploaded = _index(repo)
    del state["steps"]["publish-python"]
    (repo.path / "build/release/state.json").write_text(json.dumps(state))
    resumed = repo.invoke("release", "--resume", "--yes")
    assert "0 uploaded, 6 already there" in resumed.stdout
    assert _index(repo) == uploaded
    assert len(uploaded) == 6
    assert git(remote, "tag") == "v0.2.0"
    release_commit = git(repo.path, "rev-parse", "HEAD")
    assert git(remote, "rev-parse", "v0.2.0^{commit}") == release_commit
    assert git(repo.path, "log", "-2", "--format=%s").splitlines() == [
        "chore(release): v0.2.0",
        "feat: first release of the monorepo",
    ]
    repo.invoke("version.check")
    report = json.loads((repo.path / "dist/0.2.0/release.json").read_text())
    assert report["version"] == "0.2.0" and report["tag"] == "v0.2.0"
    again = repo.invoke("release", "--resume", "--yes")
    assert "already complete" in again.stdout + again.stderr
    assert git(repo.path, "rev-parse", "HEAD") == release_commit


def test_cli_installs_from_the_index_and_runs(repo: Repo, tmp_path: Path) -> None:
    index = repo.sandbox()["pypi_url"] + "/simple/"
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv/bin/python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--index-url", index, "ironcage-cli==0.2.0"],
        check=True,
    )
    out = subprocess.run(
        [tmp_path / "venv/bin/ironcage", "version"], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "ironcage 0.2.0"


def test_images_are_in_the_registry_as_recorded(repo: Repo) -> None:
    host = repo.sandbox()["registry_host"]
    recorded = json.loads((repo.path / "dist/0.2.0/images.json").read_text())
    sha = git(repo.path, "rev-parse", "--short=7", "HEAD")
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    for image in IMAGES:
        base = f"http://{host}/v2/ironcage/{image}"
        with urllib.request.urlopen(f"{base}/tags/list") as answer:
            tags = set(json.loads(answer.read())["tags"])
        assert {"0.2.0", "0.2", "0", "latest", f"sha-{sha}"} <= tags
        request = urllib.request.Request(f"{base}/manifests/0.2.0", headers={"Accept": accept})
        with urllib.request.urlopen(request) as answer:
            digest = answer.headers["Docker-Content-Digest"]
            manifest = json.loads(answer.read())
        assert recorded[image]["digest"] == digest
        with urllib.request.urlopen(f"{base}/blobs/{manifest['config']['digest']}") as answer:
            labels = json.loads(answer.read())["config"]["Labels"]
        assert labels["org.opencontainers.image.version"] == "0.2.0"
        assert labels["org.opencontainers.image.revision"].startswith(sha)


def test_charts_pull_back(repo: Repo, tmp_path: Path) -> None:
    import tarfile

    import yaml

    host = repo.sandbox()["registry_host"]
    for chart in ("control-panel", "agent-runtime"):
        subprocess.run(
            [
                "helm",
                "pull",
                f"oci://{host}/charts/{chart}",
                "--version",
                "0.2.0",
                "--plain-http",
                "--destination",
                str(tmp_path),
            ],
            check=True,
            capture_output=True,
        )
        with tarfile.open(tmp_path / f"{chart}-0.2.0.tgz") as tar:
            meta = yaml.safe_load(tar.extractfile(f"{chart}/Chart.yaml").read())
        assert (meta["version"], meta["appVersion"]) == ("0.2.0", "0.2.0")


def test_pilot_serves_the_release_and_the_frontend_lists_agents(repo: Repo) -> None:
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{repo.port}"
    with urllib.request.urlopen(f"{base}/api/health") as answer:
        assert json.loads(answer.read())["version"] == "0.2.0"
    token = (repo.path / ".sandbox/pilot/token").read_text().strip()
    request = urllib.request.Request(
        f"{base}/api/agents",
        data=json.dumps({"name": "e2e-agent", "description": "made by the e2e test"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 201
    shot = repo.path / "dist/0.2.0/pilot-frontend.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=require("chromium"),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.goto(base + "/")
        page.evaluate("t => localStorage.setItem('ironcage-token', t)", token)
        page.reload()
        page.wait_for_selector(".agent-name:has-text('e2e-agent')", timeout=15000)
        assert "0.2.0" in page.inner_text("#version")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 1000


def test_next_release_then_rollback(repo: Repo) -> None:
    repo.commit("packages/sandbox/README.md", "fix(sandbox): clearer limits wording")
    # The index already holds a different file under a name the release is about to upload.
    squatter = repo.path / ".sandbox/pypi/packages/ironcage_sandbox-0.2.1.tar.gz"
    squatter.write_bytes(b"not the release")
    stopped = repo.invoke("release", "--yes", ok=False)
    assert stopped.returncode == 8, stopped.stderr
    assert "ironcage_sandbox-0.2.1.tar.gz is already on" in stopped.stderr
    assert "stopped at step `publish-python`" in stopped.stdout
    assert git(repo.path / ".sandbox/remote.git", "tag") == "v0.2.0"
    squatter.unlink()
    repo.invoke("release", "--resume", "--yes")
    assert git(repo.path, "log", "-1", "--format=%s") == "chore(release): v0.2.1"
    health = json.loads(repo.invoke("health", "--env", "pilot", "--json").stdout)
    assert health["version"] == "0.2.1"
    repo.invoke("rollback", "--env", "pilot")
    health = json.loads(repo.invoke("health", "--env", "pilot", "--json").stdout)
    assert health["version"] == "0.2.0"


def test_canary_secrets_never_appear(repo: Repo) -> None:
    leaks = [text for text in OUTPUTS if CANARY_TWINE in text or CANARY_REGISTRY in text]
    assert leaks == []
    for folder in ("dist", "build", ".sandbox"):
        for path in (repo.path / folder).rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000:
                data = path.read_bytes()
                assert CANARY_TWINE.encode() not in data, path
                assert CANARY_REGISTRY.encode() not in data, path
