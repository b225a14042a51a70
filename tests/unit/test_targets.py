from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from releasekit.core import manifest
from releasekit.core.errors import ManifestError, PreflightError
from releasekit.deploy import testbed
from releasekit.publish import targets

TABLE = """
[targets.prod]
pypi_url = "http://127.0.0.1:{port}/upload"
pypi_index = "http://127.0.0.1:{port}/simple"
registry = "127.0.0.1:{port}/team"
chart_registry = "oci://127.0.0.1:{port}/charts"
git_remote = "origin"
plain_http = true
registry_username_env = "REG_USER"
registry_password_env = "REG_PASSWORD"
"""


class _Refusing(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(401)
        self.end_headers()


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield int(httpd.server_address[1])
    httpd.shutdown()


def _manifest(make_repo, port: int) -> manifest.Manifest:
    root: Path = make_repo()
    path = root / "release.toml"
    path.write_text(path.read_text() + TABLE.format(port=port))
    return manifest.load(root)


def test_remote_target_reads_credentials_from_named_variables(
    make_repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "TWINE_USERNAME": "u",
        "TWINE_PASSWORD": "p-secret-1",
        "REG_USER": "r",
        "REG_PASSWORD": "r-secret-2",
    }.items():
        monkeypatch.setenv(name, value)
    target = targets.resolve(_manifest(make_repo, 1), "prod")
    assert (target.registry_host, target.registry_password) == ("127.0.0.1:1", "r-secret-2")
    assert "secret" not in repr(target)


def test_missing_credential_names_the_variable(make_repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINE_USERNAME", "u")
    monkeypatch.setenv("TWINE_PASSWORD", "p")
    monkeypatch.delenv("REG_USER", raising=False)
    m = _manifest(make_repo, 1)
    with pytest.raises(PreflightError, match=r"variable REG_USER, which is not set"):
        targets.resolve(m, "prod")
    assert targets.resolve(m, "prod", credentials=False).registry_username == ""


def test_signing_key_variables_are_named_and_required(
    make_repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    root: Path = make_repo()
    path = root / "release.toml"
    table = (
        TABLE.format(port=1) + 'signing_key_env = "SIGN_KEY"\nsigning_password_env = "SIGN_PW"\n'
    )
    path.write_text(path.read_text() + table)
    m = manifest.load(root)
    for name, value in {"TWINE_USERNAME": "u", "TWINE_PASSWORD": "p", "REG_USER": "r"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REG_PASSWORD", "r-secret")
    monkeypatch.setenv("SIGN_KEY", "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    monkeypatch.delenv("SIGN_PW", raising=False)
    with pytest.raises(
        PreflightError, match=r"`signing_password_env` from the environment variable SIGN_PW"
    ):
        targets.resolve(m, "prod")
    monkeypatch.setenv("SIGN_PW", "pw-secret-3")
    target = targets.resolve(m, "prod")
    assert (target.signing_key_env, target.signing_password_env) == ("SIGN_KEY", "SIGN_PW")
    assert "BEGIN" not in repr(target) and "pw-secret-3" not in repr(target)


def test_unknown_target_lists_known(make_repo) -> None:
    with pytest.raises(ManifestError, match=r"Unknown target `staging`.*sandbox, prod"):
        targets.resolve(_manifest(make_repo, 1), "staging")


def test_reachable_target_passes_even_when_it_refuses(make_repo, server: int) -> None:
    target = targets.resolve(_manifest(make_repo, server), "prod", credentials=False)
    targets.check_reachable(target)


def test_target_that_does_not_answer_stops_preflight(make_repo) -> None:
    target = targets.resolve(_manifest(make_repo, testbed.free_port()), "prod", credentials=False)
    with pytest.raises(PreflightError, match=r"package index of target `prod` does not answer"):
        targets.check_reachable(target, timeout=2)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("", ("", "")),
        (
            'pypi_read_username_env = "READ_USER"\npypi_read_password_env = "READ_PW"\n',
            ("reader", "read-pw-91"),
        ),
    ],
)
def test_the_index_is_read_as_the_reader_the_target_names(
    make_repo, monkeypatch: pytest.MonkeyPatch, keys: str, expected: tuple[str, str]
) -> None:
    root: Path = make_repo()
    path = root / "release.toml"
    path.write_text(path.read_text() + TABLE.format(port=1) + keys)
    for name, value in {
        "TWINE_USERNAME": "u",
        "TWINE_PASSWORD": "upload-pw-91",
        "REG_USER": "r",
        "REG_PASSWORD": "r-secret",
        "READ_USER": "reader",
        "READ_PW": "read-pw-91",
    }.items():
        monkeypatch.setenv(name, value)
    target = targets.resolve(manifest.load(root), "prod")
    assert (target.pypi_read_username, target.pypi_read_password) == expected
    assert (target.pypi_username, target.pypi_password) == ("u", "upload-pw-91")
    assert "read-pw-91" not in repr(target)


def test_a_reader_without_its_password_is_refused(make_repo) -> None:
    root: Path = make_repo()
    path = root / "release.toml"
    path.write_text(path.read_text() + TABLE.format(port=1) + 'pypi_read_username_env = "R"\n')
    with pytest.raises(ManifestError, match=r"names only one of `pypi_read_username_env` and"):
        targets.resolve(manifest.load(root), "prod")
