"""The shared cache's naming, and the sandbox a clone points at."""

from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.build.cache_store import Remote
from releasekit.core.workspace import SANDBOX_ENV, sandbox_home


@pytest.mark.parametrize(
    ("registry", "host", "namespace"),
    [
        ("127.0.0.1:5555/ironcage", "127.0.0.1:5555", "ironcage"),
        ("ghcr.io/acme", "ghcr.io", "acme"),
        ("https://registry.example/", "registry.example", "ironcage"),
    ],
)
def test_remote_parses_a_target_registry(registry: str, host: str, namespace: str) -> None:
    remote = Remote.parse(registry, plain_http=True, username="u", password="s3cret-pw")
    assert (remote.host, remote.namespace) == (host, namespace)
    assert remote.access.plain_http and remote.access.username == "u"
    assert "s3cret-pw" not in repr(remote)


@pytest.mark.parametrize(
    ("key", "repository"),
    [("wheel:sandbox", "ns/cache/wheel-sandbox"), ("binary:cli", "ns/cache/binary-cli")],
)
def test_each_artifact_has_its_repository(key: str, repository: str) -> None:
    assert Remote("h", "ns").repository(key) == repository


def test_sandbox_home_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SANDBOX_ENV, raising=False)
    assert sandbox_home(tmp_path) == tmp_path / ".sandbox"
    monkeypatch.setenv(SANDBOX_ENV, str(tmp_path / "other" / ".sandbox"))
    assert sandbox_home(tmp_path / "clone") == (tmp_path / "other" / ".sandbox").resolve()
