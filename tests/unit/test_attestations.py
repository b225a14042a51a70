"""PEP 740 attestations and trusted publishing: what happens without an OIDC identity, and
how a target asks for it. Signing itself needs a CI job's identity, which no test here has."""

from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.core import manifest
from releasekit.publish import attestations, targets
from releasekit.publish.keyless import OIDC_VARIABLES

from .conftest import git


@pytest.fixture
def no_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OIDC_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_without_an_identity_nothing_is_attested(tmp_path: Path, no_identity: None) -> None:
    wheel = tmp_path / "demo-1.0.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    assert attestations.attest([wheel]) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [wheel.name]


def test_uploads_carry_attestations_only_when_every_file_has_one(tmp_path: Path) -> None:
    files = [tmp_path / "a-1.0.tar.gz", tmp_path / "a-1.0-py3-none-any.whl"]
    for path in files:
        path.write_bytes(b"x")
    assert not attestations.attested(files)
    Path(f"{files[0]}{attestations.SUFFIX}").write_text("{}")
    assert not attestations.attested(files)
    Path(f"{files[1]}{attestations.SUFFIX}").write_text("{}")
    assert attestations.attested(files)
    assert not attestations.attested([])


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://upload.pypi.org/legacy/", "pypi.org"),
        ("https://test.pypi.org/legacy/", "test.pypi.org"),
        ("https://pypi.example.com/upload/", "pypi.example.com"),
    ],
)
def test_tokens_are_minted_by_the_index_of_the_upload_url(url: str, host: str) -> None:
    assert attestations.index_host(url) == host


TRUSTED = """
[targets.pypi]
pypi_url = "https://upload.pypi.org/legacy/"
pypi_trusted_publishing = true
registry = "ghcr.io/ironcage"
chart_registry = "oci://ghcr.io/ironcage/charts"
git_remote = "origin"
"""


def test_a_trusted_publishing_target_needs_no_stored_password(
    make_repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWINE_USERNAME", raising=False)
    monkeypatch.delenv("TWINE_PASSWORD", raising=False)
    root = make_repo()
    (root / "release.toml").write_text((root / "release.toml").read_text() + TRUSTED)
    git(root, "commit", "-qam", "chore: trusted publishing")
    target = targets.resolve(manifest.load(root), "pypi")
    assert target.trusted_publishing
    assert (target.pypi_username, target.pypi_password) == ("__token__", "")
