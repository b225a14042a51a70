"""The sandbox for real: registry, package index and bare git remote under a temp root.

Each test gets its own sandbox on ports no developer's sandbox uses, stopped and purged
at the end.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from releasekit.core.errors import PreflightError
from releasekit.deploy import testbed
from tests.conftest import REPO, require

pytestmark = pytest.mark.integration


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    require("docker-registry")
    require("pypi-server")
    require("git")
    registry_port = testbed.free_port()
    monkeypatch.setattr(testbed, "REGISTRY_PORT", registry_port)
    monkeypatch.setattr(testbed, "PYPI_PORT", testbed.free_port([registry_port]))
    home = tmp_path / "repo"
    home.mkdir()
    yield home
    testbed.down(home, purge=True)


def _status(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _listing(pypi_url: str) -> str:
    with urllib.request.urlopen(f"{pypi_url}/simple/", timeout=10) as answer:
        return str(answer.read().decode())


def _upload(pypi_url: str, auth: tuple[str, str] | None) -> int:
    """A raw `setup.py upload`-style POST of a tiny sdist, as twine sends it."""
    boundary = uuid.uuid4().hex
    fields = {":action": "file_upload", "name": "demo-pkg", "version": "0.0.1"}
    body = b""
    for name, value in fields.items():
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
        'filename="demo-pkg-0.0.1.tar.gz"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    body += b"not really a tarball\r\n" + f"--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    return _status(pypi_url + "/", body, headers)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_up_starts_every_service_on_loopback(root: Path) -> None:
    state = testbed.up(root)
    assert state.alive
    assert [s.name for s in state.services] == ["registry", "pypi", "git-remote"]
    assert state.registry_host == f"127.0.0.1:{testbed.REGISTRY_PORT}"
    assert _status(f"http://{state.registry_host}/v2/") == 200
    assert _status(f"{state.pypi_url}/simple/") == 200
    assert (state.git_remote / "HEAD").is_file()
    assert state.pilot.is_dir()
    recorded = json.loads((root / ".sandbox" / "state.json").read_text())
    assert {s["pid"] for s in recorded["services"].values()} == {state.registry.pid, state.pypi.pid}


def test_password_is_generated_private_and_never_shown(root: Path) -> None:
    state = testbed.up(root)
    creds = root / ".sandbox" / "pypi" / "credentials"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert state.pypi_user == "releasekit"
    assert state.pypi_password == testbed.credentials(root).password
    assert len(state.pypi_password) >= 20
    for shown in (repr(state), json.dumps(state.to_json())):
        assert state.pypi_password not in shown


def test_index_refuses_uploads_without_the_password(root: Path) -> None:
    state = testbed.up(root)
    assert _upload(state.pypi_url, None) in (401, 403)
    assert _upload(state.pypi_url, ("releasekit", "wrong-password")) in (401, 403)
    assert "demo-pkg" not in _listing(state.pypi_url)
    assert _upload(state.pypi_url, (state.pypi_user, state.pypi_password)) == 200
    assert "demo-pkg" in _listing(state.pypi_url)


def test_bare_remote_accepts_a_push(root: Path, tmp_path: Path) -> None:
    state = testbed.up(root)
    work = tmp_path / "work"
    work.mkdir()
    _git(work, "init", "-q", "-b", "main")
    _git(
        work,
        "-c",
        "user.email=t@example.com",
        "-c",
        "user.name=T",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "chore: first",
    )
    _git(work, "push", "-q", str(state.git_remote), "main")
    assert _git(state.git_remote, "rev-parse", "main") == _git(work, "rev-parse", "HEAD")


def test_up_is_idempotent_and_restarts_only_what_died(root: Path) -> None:
    first = testbed.up(root)
    assert _upload(first.pypi_url, (first.pypi_user, first.pypi_password)) == 200
    again = testbed.up(root)
    assert (again.registry.pid, again.pypi.pid) == (first.registry.pid, first.pypi.pid)
    testbed.stop(first.pypi)
    assert [s.name for s in testbed.status(root).services if not s.alive] == ["pypi"]
    revived = testbed.up(root)
    assert revived.registry.pid == first.registry.pid
    assert revived.pypi.pid != first.pypi.pid
    assert revived.pypi_url == first.pypi_url
    assert revived.pypi_password == first.pypi_password
    assert "demo-pkg" in _listing(revived.pypi_url)


def test_down_stops_everything_and_keeps_data_unless_purged(root: Path) -> None:
    state = testbed.up(root)
    assert testbed.running(root).registry_host == state.registry_host
    testbed.down(root)
    after = testbed.status(root)
    assert not any(s.alive for s in after.services if s.name != "git-remote")
    with pytest.raises(PreflightError, match=r"not running \(registry, pypi down\)"):
        testbed.running(root)
    assert (state.git_remote / "HEAD").is_file()
    assert testbed.up(root).pypi_password == state.pypi_password
    testbed.down(root, purge=True)
    assert not (root / ".sandbox").exists()


def test_status_command_exits_non_zero_when_something_is_down(root: Path) -> None:
    (root / "release.toml").write_text('[release]\nbranch = "main"\n')
    invoke = [sys.executable, "-m", "invoke", "-r", str(REPO)]
    env = {**os.environ, "COLUMNS": "200"}
    testbed.up(root)
    shown = subprocess.run(
        [*invoke, "sandbox.status", "--json"], cwd=root, env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["alive"] is True
    testbed.down(root)
    table = subprocess.run(
        [*invoke, "sandbox.status"], cwd=root, env=env, capture_output=True, text=True
    )
    assert table.returncode != 0
    assert "registry" in table.stdout
    assert "Not running: registry, pypi" in table.stderr
