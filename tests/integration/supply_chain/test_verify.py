"""Signed releases verify; every kind of tampering at a destination is caught and named.

Real cosign, a real docker-registry (no referrers API: the tag-based fallback) and a real
pypiserver. Each test starts from a fresh published and signed release (see conftest).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from releasekit.publish import oci, provenance, signing, supply_chain
from tests.integration.supply_chain.conftest import (
    CHART,
    IMAGE,
    OTHER_PASSWORD,
    SECRETS,
    Released,
    delete_tag,
    package_chart,
    push_image,
    registry_tags,
)

pytestmark = pytest.mark.integration


def _argv(released: Released) -> list[str]:
    return [
        str(Path(sys.executable).parent / "invoke"), "verify", "--version", released.version,
        "--target", released.target.name, "--key", str(released.keys.public),
    ]  # fmt: skip


def _rows(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    data = json.loads(result.stdout)
    return {str(row["artifact"]): row for row in data["rows"]}


def _assert_fails_naming(result: subprocess.CompletedProcess[str], artifact: str) -> None:
    assert result.returncode == 11, result.stdout + result.stderr
    failed = [line for line in result.stderr.splitlines() if line.strip().startswith(artifact)]
    assert failed, f"{artifact} is not named among the failures:\n{result.stderr}"


def test_a_signed_release_verifies(released: Released) -> None:
    result = released.invoke_verify("--json")
    assert result.returncode == 0, result.stderr
    rows = _rows(result)
    expected = {
        provenance.FILENAME,
        released.wheel,
        IMAGE,
        f"{CHART}-{released.version}.tgz",
        f"bin/ironcage-{released.version}-linux-x86_64",
        f"sbom/{IMAGE}-{released.version}.cdx.json",
    }
    assert expected <= set(rows)
    assert all(row["ok"] for row in rows.values())
    assert rows[IMAGE]["signature"] == "ok" and rows[IMAGE]["sbom"] == "ok"
    assert rows[f"{CHART}-{released.version}.tgz"]["signature"] == "ok"
    # The provenance names every file of SHA256SUMS and the image and chart by digest.
    envelope = provenance.read(released.folder / provenance.FILENAME)
    record = supply_chain.release_record(released.folder)
    for rel, digest in record.files.items():
        if Path(rel).name not in provenance.METADATA:
            assert envelope.subjects[rel] == digest
    image = record.images[0]
    assert envelope.subjects[image.repository] == image.digest.removeprefix("sha256:")
    chart = record.charts[0]
    assert envelope.subjects[chart.repository] == chart.digest.removeprefix("sha256:")
    predicate = envelope.statement["predicate"]
    assert predicate["buildDefinition"]["externalParameters"]["version"] == released.version
    assert predicate["runDetails"]["builder"]["id"]


def test_cosign_alone_verifies_with_the_public_key(released: Released) -> None:
    """What the README tells a user to run, with nothing but cosign and the public key."""
    record = supply_chain.release_record(released.folder)
    access = oci.Access(plain_http=True)
    for ref in (record.images[0].ref, f"{record.charts[0].repository}@{record.charts[0].digest}"):
        argv = signing.verify_argv(ref, released.keys.public, access)
        subprocess.run(argv, check=True, capture_output=True)
        other = signing.verify_argv(ref, released.keys.other_public, access)
        assert subprocess.run(other, capture_output=True, check=False).returncode != 0
    # No referrers API on this registry: cosign keeps the image's referrers (signature and
    # SBOM attestation) in an index under the fallback tag sha256-<digest>.
    host, repository = oci.split_ref(record.images[0].repository)
    fallback = "sha256-" + record.images[0].digest.removeprefix("sha256:")
    assert fallback in registry_tags(host, repository)
    index = oci.fetch_manifest(host, repository, fallback, access)
    assert index is not None
    assert len(index.body.get("manifests", [])) == 2, index.body
    binary = released.folder / "bin" / f"ironcage-{released.version}-linux-x86_64"
    argv = [
        "cosign", "verify-blob-attestation", "--key", str(released.keys.public),
        "--signature", str(released.folder / provenance.FILENAME),
        "--type", "slsaprovenance1", "--insecure-ignore-tlog=true",
        str(binary),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_signing_again_changes_nothing(released: Released) -> None:
    record = supply_chain.release_record(released.folder)
    host, repository = oci.split_ref(record.images[0].repository)
    before = registry_tags(host, repository)
    sig_tag = "sha256-" + record.images[0].digest.removeprefix("sha256:")
    sig_before = oci.fetch_manifest(host, repository, sig_tag, oci.Access(plain_http=True))
    envelope_before = (released.folder / provenance.FILENAME).read_bytes()
    published = json.loads((released.folder / "release.json").read_text())
    signed, _ = supply_chain.sign_published(
        released.root, released.version, released.target, published, {}
    )
    assert signed.actions == (
        f"chart {CHART}-{released.version}.tgz: already signed",
        f"image {IMAGE}: already signed, SBOM already attested",
        signed.actions[-1],
    )
    assert "already signed" in signed.actions[-1]
    assert registry_tags(host, repository) == before
    sig_after = oci.fetch_manifest(host, repository, sig_tag, oci.Access(plain_http=True))
    assert sig_before is not None and sig_after is not None
    assert sig_after.digest == sig_before.digest
    assert (released.folder / provenance.FILENAME).read_bytes() == envelope_before


def test_an_image_tag_pushed_again_with_other_content(released: Released) -> None:
    host, repository = oci.split_ref(released.image_repository)
    push_image(host, repository, released.version, os.urandom(32))
    result = released.invoke_verify()
    _assert_fails_naming(result, IMAGE)
    assert "the release recorded" in result.stderr


def test_a_replaced_chart(released: Released, tmp_path: Path) -> None:
    other = package_chart(released.root, released.version, tmp_path, description="Replaced.")
    from releasekit.publish import charts

    charts.run_helm(charts.push_argv(other, released.target.chart_registry))
    result = released.invoke_verify()
    _assert_fails_naming(result, f"{CHART}-{released.version}.tgz")


def test_a_wheel_replaced_on_the_index(released: Released) -> None:
    served = Path(released.pypi.data) / "packages" / released.wheel
    assert served.is_file()
    served.write_bytes(served.read_bytes() + b"\0")
    result = released.invoke_verify()
    _assert_fails_naming(result, released.wheel)
    assert "index serves" in result.stderr


def test_a_provenance_with_one_byte_flipped(released: Released) -> None:
    path = released.folder / provenance.FILENAME
    data = json.loads(path.read_text())
    payload = bytearray(base64.b64decode(data["payload"]))
    at = payload.index(b'"sha256":"') + len(b'"sha256":"')
    payload[at] = ord("0") if payload[at] != ord("0") else ord("1")
    data["payload"] = base64.b64encode(bytes(payload)).decode()
    path.write_text(json.dumps(data) + "\n")
    result = released.invoke_verify()
    _assert_fails_naming(result, provenance.FILENAME)
    # Nothing the provenance says is trusted any more.
    _assert_fails_naming(result, released.wheel)


def test_a_signature_made_with_another_key(released: Released) -> None:
    record = supply_chain.release_record(released.folder)
    chart = record.charts[0]
    host, repository = oci.split_ref(chart.repository)
    delete_tag(host, repository, "sha256-" + chart.digest.removeprefix("sha256:"))
    other = signing.SigningKey(
        str(released.keys.other_key), released.keys.other_public, OTHER_PASSWORD
    )
    signing.sign(f"{chart.repository}@{chart.digest}", other, oci.Access(plain_http=True))
    result = released.invoke_verify("--json")
    _assert_fails_naming(result, chart.archive)
    rows = _rows(result)
    assert rows[chart.archive]["signature"] != "ok"
    assert rows[IMAGE]["ok"], "only the re-signed chart fails"


@pytest.mark.parametrize("release_registry", ["private"], indirect=True)
def test_a_private_registry_and_secrets_never_show_in_output_or_files(
    released: Released, capfd: pytest.CaptureFixture[str]
) -> None:
    """Signed and verified through registry credentials; no secret in any output or file."""
    assert released.auth is not None
    key_pem = os.environ["SUPPLY_CHAIN_TEST_KEY"]
    published = json.loads((released.folder / "release.json").read_text())
    signed, _ = supply_chain.sign_published(
        released.root, released.version, released.target, published, {}
    )
    assert all("already" in action for action in signed.actions)
    verified = released.invoke_verify()
    assert verified.returncode == 0, verified.stderr
    # Without the credentials the registry refuses, and verify says so.
    anonymous = subprocess.run(
        [*_argv(released), "--json"],
        cwd=released.root,
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "SUPPLY_CHAIN_REGISTRY_PASSWORD"},
    )
    assert anonymous.returncode != 0
    outputs = [verified, anonymous, released.invoke_verify("--json")]
    captured = capfd.readouterr()
    text = "".join(r.stdout + r.stderr for r in outputs) + captured.out + captured.err
    for path in [*released.folder.rglob("*"), *(released.root / "build").rglob("*")]:
        if path.is_file():
            text += path.read_bytes().decode(errors="replace")
    for secret in (*SECRETS, key_pem.strip().splitlines()[1]):
        assert secret not in text


def test_the_sandbox_key_pair_is_made_once_and_kept_private(tmp_path: Path) -> None:
    from releasekit.deploy import testbed

    first = testbed.signing_key(tmp_path)
    home = tmp_path / ".sandbox" / "keys"
    assert (first.key, first.public) == (home / "cosign.key", home / "cosign.pub")
    assert oct(home.stat().st_mode & 0o777) == "0o700"
    for private in (first.key, home / "password"):
        assert oct(private.stat().st_mode & 0o777) == "0o600"
    assert (home / "password").read_text() == first.password
    assert first.password not in first.key.read_text()
    assert sorted(p.name for p in home.iterdir()) == ["cosign.key", "cosign.pub", "password"]
    again = testbed.signing_key(tmp_path)
    assert again == first and again.key.read_bytes() == first.key.read_bytes()
    # The pair works: a signature by the private key verifies with the public one.
    key = signing.SigningKey(str(first.key), first.public, first.password)
    assert signing.verify_blob(b"data", signing.sign_blob(b"data", key), first.public) is None
    assert signing.verify_blob(b"other", signing.sign_blob(b"data", key), first.public)
