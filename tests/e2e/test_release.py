"""The whole release into the sandbox, for real, in a fresh copy of this repository.

Order matters: the module walks one repository (set to version 0.1.0, whatever version the
monorepo itself is at) through a dry run, refused releases, two releases started together,
a release killed after every step and inside every upload and resumed, the checks of
everything it published, the released tree's own tests, a second release that fails after
its tag and is finished without its state file, a rollback, and a release to a target that
needs credentials. Every secret that flows must never show.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from releasekit.build.images.buildkit import STATE_ENV as BUILDKIT_STATE
from releasekit.deploy import testbed
from tests.conftest import copy_repo, current_version, narrow_platforms, require, set_version
from tests.conftest import git as _git

# The copy is pinned to this version, whatever version the monorepo itself is at, so the
# versions the release makes (0.2.0 and its tags) are known to every test below.
COPY_VERSION = "0.1.0"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

CANARY_TWINE = "canary-twine-5b0e7c1d"
CANARY_REGISTRY = "canary-registry-8f3a2e6b"
SECURE_INDEX_PASSWORD = "secure-index-3c9d1f70"
SECURE_REGISTRY_PASSWORD = "secure-registry-62b8e4a5"
IMAGES = ("agent-runtime", "control-panel-api", "control-panel-web", "marketing-site")
OUTPUTS: list[str] = []


def git(repo: Path, *args: str) -> str:
    return _git(repo, *args).strip()


class Repo:
    """A fresh copy of this repository with its own sandbox, pilot port and project."""

    def __init__(self, path: Path, port: int) -> None:
        self.path = path
        self.port = port
        self.sandbox_host = ""

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("RELEASEKIT_") or k == BUILDKIT_STATE
        }
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

    def start(self, *args: str, **extra: str) -> tuple[subprocess.Popen[str], Path]:
        """Start ``invoke ARGS`` in its own process group; (process, its output file)."""
        out = self.path.parent / f"out-{time.monotonic_ns()}.log"
        handle = out.open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", *args],
            cwd=self.path,
            env=self.env(**extra),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        handle.close()
        return proc, out

    def kill_when(self, ready: Callable[[], bool], *args: str) -> bool:
        """Run ``invoke ARGS``; SIGKILL its process group once ``ready()``; True if it was."""
        proc, out = self.start(*args)
        deadline = time.monotonic() + 900
        killed = False
        while proc.poll() is None and time.monotonic() < deadline:
            if ready():
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.01)
        proc.wait(timeout=60)
        OUTPUTS.append(out.read_text())
        return killed

    def state(self) -> dict[str, Any]:
        return json.loads((self.path / "build/release/state.json").read_text())

    def sandbox(self) -> dict[str, Any]:
        return json.loads(self.invoke("sandbox.status", "--json").stdout)

    def commit(self, relpath: str, message: str) -> None:
        target = self.path / relpath
        target.write_text(target.read_text() + "\n# changed\n")
        git(self.path, "add", "-A")
        git(self.path, "commit", "-qm", message)


def sandbox_repo(folder: Path, *tools: str) -> Repo:
    """A copy of the monorepo at COPY_VERSION in ``folder``, one commit, its own sandbox port.

    The committer names the folder, so two copies made in the same second never share a
    commit id (nor the images, tags and labels that carry it).
    """
    for tool in tools:
        require(tool)
    path = copy_repo(folder / "repo")
    narrow_platforms(path)  # these tests release many times
    set_version(path, COPY_VERSION)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "e2e@example.com")
    git(path, "config", "user.name", f"e2e {folder.name}")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "feat: first release of the monorepo")
    return Repo(path, testbed.free_port())


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory):
    r = sandbox_repo(
        tmp_path_factory.mktemp("e2e"),
        "docker", "helm", "terraform", "docker-registry", "docker-compose",
    )  # fmt: skip
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
        ("none", ("--to", "{current}"), {}, r"`{current}` is not higher than the current version"),
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

    current = current_version(repo.path)
    args = tuple(arg.replace("{current}", current) for arg in args)
    message = message.replace("{current}", re.escape(current))
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


def _lock_holder(repo: Repo) -> int | None:
    try:
        return int(json.loads((repo.path / "build/release/lock").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def _registry_repos(repo: Repo) -> list[str]:
    try:
        return _catalog(repo.sandbox_host)["repositories"]
    except OSError:
        return []


def _image_tagged(repo: Repo) -> bool:
    """True once a version tag names a released image: the build pushes them by digest,
    untagged, and its shared cache lives under ``ironcage/cache/``, outside ``IMAGES``."""
    for image in IMAGES:
        try:
            if _tags(repo.sandbox_host, f"ironcage/{image}"):
                return True
        except OSError:
            continue
    return False


def test_two_releases_at_once_one_runs_one_exits_10(repo: Repo) -> None:
    # Killed right after preflight (nothing recorded), then right after choosing the version.
    for fault in ("kill-after:preflight", "kill-after:version"):
        killed = repo.invoke("release", "--yes", ok=False, RELEASEKIT_FAULT=fault)
        assert killed.returncode == -9, killed.stderr
    assert repo.state()["version"] == "0.2.0"
    assert repo.state()["options"] == {"target": "sandbox", "env": "pilot", "version": "0.2.0"}
    hold = "hold-at:prepare:added"
    first, out = repo.start("release", "--resume", "--yes", RELEASEKIT_FAULT=hold)
    deadline = time.monotonic() + 120
    while _lock_holder(repo) != first.pid:
        assert first.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.02)
    second = repo.invoke("release", "--resume", "--yes", ok=False)
    assert second.returncode == 10, second.stderr
    assert f"Another release is running: pid {first.pid} on" in second.stderr
    # Now the first one is killed for real, inside `prepare`, after `git add`.
    deadline = time.monotonic() + 300
    while not git(repo.path, "diff", "--cached", "--name-only"):
        assert first.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    OUTPUTS.append(out.read_text())
    assert git(repo.path, "diff", "--cached", "--name-only") != ""


def test_killed_after_every_step_and_inside_every_upload_publishes_once(repo: Repo) -> None:
    remote = repo.path / ".sandbox/remote.git"
    # A new release while one is unfinished is refused.
    refused = repo.invoke("release", "--yes", ok=False)
    assert "release --resume" in refused.stderr
    # A resume that names another target or environment is refused, naming both.
    other = repo.invoke("release", "--resume", "--yes", "--env", "none", ok=False)
    assert "started with --env pilot, but this resume asks for --env none" in other.stderr
    for step in ("prepare", "build", "verify", "tag"):
        killed = repo.invoke(
            "release", "--resume", "--yes", ok=False, RELEASEKIT_FAULT=f"kill-after:{step}"
        )
        assert killed.returncode == -9, killed.stderr
        assert step in repo.state()["steps"]
        assert git(remote, "tag") == ("v0.2.0" if step == "tag" else "")
    # Killed for real inside the upload, the image tagging and the chart pushes.
    repo.sandbox_host = repo.sandbox()["registry_host"]
    assert repo.kill_when(lambda: len(_index(repo)) >= 1, "release", "--resume", "--yes")
    assert "publish-python" not in repo.state()["steps"]
    assert repo.kill_when(lambda: _image_tagged(repo), "release", "--resume", "--yes")
    assert "publish-images" not in repo.state()["steps"]
    assert repo.kill_when(
        lambda: any(r.startswith("charts/") for r in _registry_repos(repo)),
        "release", "--resume", "--yes",
    )  # fmt: skip
    assert "publish-charts" not in repo.state()["steps"]
    for step in ("publish-charts", "sign", "verify-published", "deploy", "health", "report"):
        killed = repo.invoke(
            "release", "--resume", "--yes", ok=False, RELEASEKIT_FAULT=f"kill-after:{step}"
        )
        assert killed.returncode == -9, killed.stderr
        assert step in repo.state()["steps"]
    resumed = repo.invoke("release", "--resume", "--yes")
    assert "release 0.2.0 is already complete" not in resumed.stdout
    assert repo.state()["complete"] is True
    # Each file is on the index once, each tag names one digest, one git tag exists.
    assert len(_index(repo)) == 6
    assert git(remote, "tag") == "v0.2.0"
    release_commit = git(repo.path, "rev-parse", "HEAD")
    assert git(remote, "rev-parse", "v0.2.0^{commit}") == release_commit
    assert git(remote, "rev-parse", "refs/heads/main") == release_commit
    assert git(repo.path, "log", "-2", "--format=%s").splitlines() == [
        "chore(release): v0.2.0",
        "feat: first release of the monorepo",
    ]
    recorded = json.loads((repo.path / "dist/0.2.0/images.json").read_text())
    for image in IMAGES:
        # cosign keeps signatures under `sha256-<digest>` tags (the registry has no referrers API)
        tags = [t for t in _tags(repo.sandbox_host, f"ironcage/{image}") if "sha256-" not in t]
        assert {_digest(repo.sandbox_host, f"ironcage/{image}", t) for t in tags} == {
            recorded[image]["digest"]
        }
    repo.invoke("version.check")
    report = json.loads((repo.path / "dist/0.2.0/release.json").read_text())
    assert report["version"] == "0.2.0" and report["tag"] == "v0.2.0"
    again = repo.invoke("release", "--resume", "--yes")
    assert "already complete" in again.stdout + again.stderr
    assert git(repo.path, "rev-parse", "HEAD") == release_commit


def test_the_release_verifies_at_its_destinations(repo: Repo) -> None:
    verified = json.loads(repo.invoke("verify", "--json").stdout)
    assert verified["ok"] is True and verified["failures"] == []
    assert verified["version"] == "0.2.0" and len(verified["rows"]) > len(IMAGES) + 2
    report = json.loads((repo.path / "dist/0.2.0/release.json").read_text())
    public = repo.path / ".sandbox/keys/cosign.pub"
    refs = [f"{e['repository']}@{e['digest']}" for e in report["images"].values()]
    refs += [_chart_ref(entry) for entry in report["charts"].values()]
    assert len(refs) == len(IMAGES) + 2
    for ref in refs:
        subprocess.run(
            [require("cosign"), "verify", "--key", str(public), "--insecure-ignore-tlog=true",
             "--allow-http-registry=true", ref],
            check=True, capture_output=True, text=True, env=repo.env(),
        )  # fmt: skip


def _chart_ref(entry: dict[str, Any]) -> str:
    return f"{str(entry['ref']).removeprefix('oci://').rsplit(':', 1)[0]}@{entry['digest']}"


_ACCEPT = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def _open(url: str, auth: tuple[str, str] | None = None, **headers: str) -> Any:
    request = urllib.request.Request(url, headers=headers)
    if auth:
        pair = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {pair}")
    return urllib.request.urlopen(request)


def _tags(host: str, name: str, auth: tuple[str, str] | None = None) -> list[str]:
    with _open(f"http://{host}/v2/{name}/tags/list", auth) as answer:
        return json.loads(answer.read())["tags"]


def _digest(host: str, name: str, tag: str, auth: tuple[str, str] | None = None) -> str:
    with _open(f"http://{host}/v2/{name}/manifests/{tag}", auth, Accept=_ACCEPT) as answer:
        return answer.headers["Docker-Content-Digest"]


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
    accept = _ACCEPT
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


def test_the_released_tree_passes_its_own_tests(repo: Repo, tmp_path: Path) -> None:
    """The engine's unit tests and every package's tests, run on the tree just released."""
    import sysconfig

    packages = sorted((repo.path / "packages").iterdir())
    env_dir = tmp_path / "released"
    venv.create(env_dir, with_pip=False)
    site_dir = next(env_dir.glob("lib/python*/site-packages"))
    # The released tree first (engine and packages), then this interpreter's own packages.
    (site_dir / "00-released.pth").write_text(
        "\n".join([str(repo.path), *(str(p / "src") for p in packages)]) + "\n"
    )
    here = sysconfig.get_paths()["purelib"]
    (site_dir / "01-tools.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    tests = ["tests/unit", *(f"packages/{p.name}/tests" for p in packages)]
    proc = subprocess.run(
        [env_dir / "bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=repo.path,
        env={
            **{k: v for k, v in repo.env().items() if not k.startswith("PILOT_")},
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert re.search(r"\d+ passed", proc.stdout)


def test_preflight_refuses_a_branch_behind_its_remote(repo: Repo, tmp_path: Path) -> None:
    remote = repo.path / ".sandbox/remote.git"
    other = tmp_path / "other"
    _git(tmp_path, "clone", "-q", str(remote), str(other))
    (other / "NOTES.md").write_text("a commit made elsewhere\n")
    git(other, "add", "NOTES.md")
    git(other, "-c", "user.email=o@example.com", "-c", "user.name=o", "commit", "-qm", "docs: x")
    git(other, "push", "-q", "origin", "HEAD:main")
    before = git(repo.path, "rev-parse", "HEAD")
    stopped = repo.invoke("release", "--yes", "--part", "patch", ok=False)
    assert stopped.returncode == 9, stopped.stderr
    assert f"Branch `main` is behind `{remote}`" in stopped.stderr
    assert "git pull --ff-only" in stopped.stderr
    assert git(repo.path, "rev-parse", "HEAD") == before
    git(repo.path, "pull", "-q", "--ff-only", str(remote), "main")


def _stopped(pid: int) -> bool:
    """Whether process ``pid`` is stopped (SIGSTOP)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "T"


def test_a_push_refused_because_the_remote_moved_is_aborted_and_leaves_nothing(
    repo: Repo, tmp_path: Path
) -> None:
    """The branch moves on the remote while the release builds: the push is refused, the
    message names both ways out, and `--abort` leaves everything as before the release.
    The release that follows (the next test) succeeds with the same version."""
    remote = repo.path / ".sandbox/remote.git"
    repo.commit("packages/sandbox/README.md", "fix(sandbox): a fix whose first push is refused")
    state_file = repo.path / "build/release/state.json"

    def world() -> tuple[str, str, Any]:
        state = json.loads(state_file.read_text()) if state_file.exists() else None
        return _snapshot(repo)[0], git(repo.path, "tag", "--list"), state

    before = world()
    proc, out = repo.start("release", "--yes", RELEASEKIT_FAULT="stop-at:tag:pushing")
    deadline = time.monotonic() + 1200
    while not _stopped(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.2)
    tags_before = git(remote, "tag")
    other = tmp_path / "other"
    _git(tmp_path, "clone", "-q", str(remote), str(other))
    (other / "MEANWHILE.md").write_text("pushed while the release was building\n")
    git(other, "add", "MEANWHILE.md")
    git(other, "-c", "user.email=o@example.com", "-c", "user.name=o", "commit", "-qm", "docs: y")
    git(other, "push", "-q", "origin", "HEAD:main")
    moved = git(other, "rev-parse", "HEAD")
    os.kill(proc.pid, signal.SIGCONT)
    proc.wait(timeout=300)
    text = out.read_text()
    OUTPUTS.append(text)
    assert proc.returncode == 8, text
    (tag,) = set(git(repo.path, "tag", "--list").split()) - set(before[1].split())
    assert f"`{remote}` refused the push of the release commit" in text
    assert f"its branch `main` moved to {moved[:12]}" in text
    assert "Two ways out: (1)" in text and "`invoke release --abort`" in text
    assert f"`git pull --rebase {remote} main`" in text
    assert "(2) if those commits must not be on `main`" in text
    assert "`invoke release --resume`" in text
    assert git(remote, "tag") == tags_before
    # A resume meets the same dead end at preflight, with the same two ways out.
    again = repo.invoke("release", "--resume", "--yes", ok=False)
    assert again.returncode == 9 and "Two ways out" in again.stderr, again.stderr

    aborted = repo.invoke("release", "--abort")
    assert f"deleted the local tag {tag}" in aborted.stdout
    assert world() == before
    assert not (repo.path / "dist" / tag.removeprefix("v")).exists()
    assert git(remote, "tag") == tags_before
    refused = repo.invoke("release", "--abort", ok=False)
    assert "Nothing to abort" in refused.stderr
    git(repo.path, "pull", "-q", "--rebase", str(remote), "main")


def test_next_release_fails_after_its_tag_and_a_rerun_without_state_finishes(repo: Repo) -> None:
    repo.commit("packages/sandbox/README.md", "fix(sandbox): clearer limits wording")
    # The index already holds a different file under a name the release is about to upload.
    squatter = repo.path / ".sandbox/pypi/packages/ironcage_sandbox-0.2.1.tar.gz"
    squatter.write_bytes(b"not the release")
    stopped = repo.invoke("release", "--yes", ok=False)
    assert stopped.returncode == 8, stopped.stderr
    assert "ironcage_sandbox-0.2.1.tar.gz is already on" in stopped.stderr
    assert "stopped at step `publish-python`" in stopped.stdout
    # The tag went out before anything was published: the version is spoken for.
    remote = repo.path / ".sandbox/remote.git"
    assert git(remote, "tag").split() == ["v0.2.0", "v0.2.1"]
    squatter.unlink()
    # Another machine (a CI re-run) has no state file, no build cache and no dist/.
    for folder in ("build", "dist/0.2.1"):
        subprocess.run(["rm", "-rf", str(repo.path / folder)], check=True)
    finished = repo.invoke("release", "--yes")
    assert "HEAD is the release commit of 0.2.1: finishing that release" in finished.stdout
    assert git(repo.path, "log", "-1", "--format=%s") == "chore(release): v0.2.1"
    assert git(remote, "tag").split() == ["v0.2.0", "v0.2.1"]
    assert len([n for n in _index(repo) if "0.2.1" in n]) == 6
    # A hotfix line: 0.2.1 is the highest release, so the moving tags follow it.
    host = repo.sandbox()["registry_host"]
    digest = _digest(host, "ironcage/agent-runtime", "0.2.1")
    assert _digest(host, "ironcage/agent-runtime", "latest") == digest
    health = json.loads(repo.invoke("health", "--env", "pilot", "--json").stdout)
    assert health["version"] == "0.2.1"
    repo.invoke("rollback", "--env", "pilot")
    health = json.loads(repo.invoke("health", "--env", "pilot", "--json").stdout)
    assert health["version"] == "0.2.0"


SECURE_TARGET = """
[targets.secure]
pypi_url = "{pypi}"
pypi_index = "{pypi}/simple"
pypi_username_env = "SECURE_INDEX_USER"
pypi_password_env = "SECURE_INDEX_PASSWORD"
registry = "{registry}/ironcage"
registry_username_env = "SECURE_REGISTRY_USER"
registry_password_env = "SECURE_REGISTRY_PASSWORD"
chart_registry = "oci://{registry}/charts"
git_remote = "{remote}"
plain_http = true
"""


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A registry (htpasswd) and an index (password) that refuse anyone without credentials."""
    registry = testbed.start_registry(
        tmp_path / "registry", auth=("releaser", SECURE_REGISTRY_PASSWORD)
    )
    pypi = testbed.start_pypi(tmp_path / "pypi", "uploader", SECURE_INDEX_PASSWORD)
    remote = tmp_path / "remote.git"
    _git(tmp_path, "init", "-q", "--bare", str(remote))
    try:
        yield {
            "registry": registry.host,
            "pypi": pypi.url,
            "remote": str(remote),
            "packages": str(tmp_path / "pypi/packages"),
        }
    finally:
        testbed.stop(registry)
        testbed.stop(pypi)


def test_release_to_a_target_that_needs_credentials(repo: Repo, secure: dict[str, str]) -> None:
    manifest = repo.path / "release.toml"
    manifest.write_text(manifest.read_text() + SECURE_TARGET.format(**secure))
    git(repo.path, "add", "release.toml")
    git(repo.path, "commit", "-qm", "chore: a target that needs credentials")
    good = {
        "SECURE_INDEX_USER": "uploader",
        "SECURE_INDEX_PASSWORD": SECURE_INDEX_PASSWORD,
        "SECURE_REGISTRY_USER": "releaser",
        "SECURE_REGISTRY_PASSWORD": SECURE_REGISTRY_PASSWORD,
    }
    args = ("release", "--yes", "--target", "secure", "--env", "none", "--part", "patch")
    before, head = repo.state(), git(repo.path, "rev-parse", "HEAD")
    for wrong, message in (
        ("SECURE_INDEX_PASSWORD", r"package index .* refused the upload credentials"),
        (
            "SECURE_REGISTRY_PASSWORD",
            r"image registry .* refused the login .* \$SECURE_REGISTRY_USER",
        ),
    ):
        refused = repo.invoke(*args, ok=False, **{**good, wrong: "not-the-password"})
        assert refused.returncode == 9, refused.stderr
        assert re.search(message, refused.stderr), refused.stderr
        assert repo.state() == before
        assert git(repo.path, "rev-parse", "HEAD") == head
        assert git(Path(secure["remote"]), "tag") == ""
        assert list(Path(secure["packages"]).iterdir()) == []
    repo.invoke(*args, **good)
    assert git(Path(secure["remote"]), "tag") == "v0.2.2"
    assert len([p for p in Path(secure["packages"]).iterdir() if "0.2.2" in p.name]) == 6
    auth = ("releaser", SECURE_REGISTRY_PASSWORD)
    recorded = json.loads((repo.path / "dist/0.2.2/images.json").read_text())
    for image in IMAGES:
        assert "0.2.2" in _tags(secure["registry"], f"ironcage/{image}", auth)
        digest = _digest(secure["registry"], f"ironcage/{image}", "0.2.2", auth)
        assert recorded[image]["digest"] == digest
    for chart in ("control-panel", "agent-runtime"):
        assert "0.2.2" in _tags(secure["registry"], f"charts/{chart}", auth)


def _published(repo: Repo, version: str) -> dict[str, str]:
    """What the destinations hold of ``version``: index files by sha256, images and charts
    by the digest their version tag names."""
    host = repo.sandbox()["registry_host"]
    found = {}
    for path in sorted((repo.path / ".sandbox/pypi/packages").iterdir()):
        if version in path.name:
            found[f"index {path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    for name in (
        *(f"ironcage/{i}" for i in IMAGES),
        "charts/agent-runtime",
        "charts/control-panel",
    ):
        try:
            tags = _tags(host, name)
        except urllib.error.HTTPError as exc:  # a repository nothing was pushed to yet
            assert exc.code == 404, exc
            tags = []
        if version in tags:
            found[name] = _digest(host, name, version)
    return found


def _new_machine(repo: Repo, commit: str, step: int) -> None:
    """This checkout as another machine would have it: what the release wrote is gone.

    build/ (state, build cache, logs, the smoke tests' environments) and dist/ are
    deleted, every tracked file gets a new time, and every local image of the release
    commit is removed from docker. The toolkit's own environment is the test's venv,
    shared with the other tests, and the sandbox (.sandbox/: registry, index, remote, key)
    plays the outside world, so both stay.
    """
    for folder in ("build", "dist"):
        subprocess.run(["rm", "-rf", str(repo.path / folder)], check=True)
    later = time.time() + 3600 * step
    for rel in filter(None, git(repo.path, "ls-files", "-z").split("\0")):
        os.utime(repo.path / rel, (later, later))
    label = f"label=org.opencontainers.image.revision={commit}"
    ids = subprocess.run(
        ["docker", "image", "ls", "-q", "--filter", label],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if ids:
        subprocess.run(
            ["docker", "image", "rm", "-f", *sorted(set(ids))], check=True, capture_output=True
        )


def test_another_machine_finishes_the_release_byte_for_byte(repo: Repo) -> None:
    """Killed after each publishing step, finished each time on "another machine".

    One chain on one copy: killed after publish-python, then after publish-images, after
    publish-charts and after sign, each time re-run on a new machine (see _new_machine; the
    setup script is not run again: what a new machine lacks is what the release wrote).
    Every run finishes the same version and leaves every file on the index and every
    digest in the registry as the first run published it; the last run passes verify.
    While the release waits after publish-charts, a changed binary and then a stray file
    are refused before anything is signed.
    """
    repo.commit("packages/sandbox/README.md", "fix(sandbox): other-machine wording")
    args = ("release", "--yes", "--env", "none")
    killed = repo.invoke(*args, ok=False, RELEASEKIT_FAULT="kill-after:publish-python")
    assert killed.returncode == -9, killed.stderr
    version = current_version(repo.path)
    commit = git(repo.path, "rev-parse", "HEAD")
    first = _published(repo, version)
    assert len([k for k in first if k.startswith("index ")]) == 6
    for step, stop in enumerate(("publish-images", "publish-charts", "sign", None), start=1):
        _new_machine(repo, commit, step)
        extra = {"RELEASEKIT_FAULT": f"kill-after:{stop}"} if stop else {}
        run = repo.invoke(*args, ok=stop is None, **extra)
        assert run.returncode == (-9 if stop else 0), run.stdout + run.stderr
        assert f"HEAD is the release commit of {version}" in run.stdout
        assert git(repo.path, "rev-parse", "HEAD") == commit
        now = _published(repo, version)
        assert {k: v for k, v in now.items() if k in first} == first
        first = {**now, **first}
        if stop == "publish-images":
            images_before = {k: v for k, v in now.items() if k.startswith("ironcage/")}
            assert len(images_before) == len(IMAGES)
        if stop == "publish-charts":
            _tampered_files_are_refused(repo, version)
    assert repo.state()["complete"] is True and repo.state()["version"] == version
    images_after = {k: v for k, v in _published(repo, version).items() if k.startswith("ironcage/")}
    print(f"image digests of {version} before the re-runs: {json.dumps(images_before, indent=2)}")
    print(f"image digests of {version} after the last re-run: {json.dumps(images_after, indent=2)}")
    assert images_after == images_before
    verified = json.loads(repo.invoke("verify", "--json").stdout)
    assert verified["ok"] is True and verified["failures"] == []


def _tampered_files_are_refused(repo: Repo, version: str) -> None:
    """A binary changed, then a stray file, while the release waits: refused, nothing signed."""
    folder = repo.path / "dist" / version
    binary = folder / "bin" / f"ironcage-{version}-linux-x86_64"
    built = binary.read_bytes()
    binary.write_bytes(built + b"tampered")
    refused = repo.invoke("release", "--resume", "--yes", "--env", "none", ok=False)
    assert refused.returncode == 11, refused.stdout + refused.stderr
    assert f"{binary} has sha256 {hashlib.sha256(built + b'tampered').hexdigest()}" in (
        refused.stderr
    )
    assert hashlib.sha256(built).hexdigest() in refused.stderr
    assert not (folder / "provenance.intoto.jsonl").exists()
    host = repo.sandbox()["registry_host"]
    for image in IMAGES:
        signature = _digest(host, f"ironcage/{image}", version).replace(":", "-") + ".sig"
        assert signature not in _tags(host, f"ironcage/{image}")
    binary.write_bytes(built)
    stray = folder / "bin/stray-debug-build"
    stray.write_bytes(b"debug build")
    refused = repo.invoke("release", "--resume", "--yes", "--env", "none", ok=False)
    assert refused.returncode == 11, refused.stdout + refused.stderr
    assert "bin/stray-debug-build" in refused.stderr
    assert not (folder / "provenance.intoto.jsonl").exists()
    stray.unlink()


def test_secrets_never_appear(repo: Repo) -> None:
    # The files whose job is to hold a generated secret (mode 0600).
    homes = {
        repo.path / ".sandbox/pypi/credentials",
        repo.path / ".sandbox/pilot/token",
        repo.path / ".sandbox/pilot/agent-runtime-token",
        repo.path / ".sandbox/keys/password",
    }
    secrets = [
        CANARY_TWINE,
        CANARY_REGISTRY,
        SECURE_INDEX_PASSWORD,
        SECURE_REGISTRY_PASSWORD,
        testbed.credentials(repo.path).password,
        *(path.read_text().strip() for path in sorted(homes) if path.name != "credentials"),
    ]
    assert all(len(secret) >= 8 for secret in secrets)
    leaks = [(i, s) for i, text in enumerate(OUTPUTS) for s in secrets if s in text]
    assert leaks == []
    for folder in ("dist", "build", ".sandbox"):
        for path in (repo.path / folder).rglob("*"):
            if path in homes or not path.is_file() or path.stat().st_size > 50_000_000:
                continue
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, path
