"""`invoke verify` starts from the signed provenance; every deploy checks image signatures.

Each tampering below leaves the unsigned records consistent with the tampered artifact, as
someone who can write the release folder would; only the signed provenance still says what
was released, and verify fails naming the artifact. Real cosign, docker-registry, pypiserver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from releasekit.build import checksums
from releasekit.core.errors import VerificationError
from releasekit.deploy import pilot
from releasekit.publish import agreement, assets, oci, provenance, signing
from releasekit.publish.trust import Trust, verify_images
from tests.integration.supply_chain.conftest import (
    IMAGE,
    KEY_PASSWORD,
    OTHER_PASSWORD,
    Released,
    push_image,
)
from tests.unit.test_assets import _GitHub, github  # noqa: F401

pytestmark = pytest.mark.integration


def _fails_naming(result: subprocess.CompletedProcess[str], *artifacts: str) -> str:
    assert result.returncode == 11, result.stdout + result.stderr
    failed = [line.strip() for line in result.stderr.splitlines() if "):" in line]
    for artifact in artifacts:
        assert any(line.startswith(artifact) for line in failed), (
            f"{artifact} is not named among the failures:\n{result.stderr}"
        )
    return result.stderr


def _rows(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    return {str(row["artifact"]): row for row in json.loads(result.stdout)["rows"]}


def test_every_subject_and_record_entry_is_checked(released: Released) -> None:
    result = released.invoke_verify("--json")
    assert result.returncode == 0, result.stderr
    rows = _rows(result)
    envelope = provenance.read(released.folder / provenance.FILENAME)
    external = envelope.statement["predicate"]["buildDefinition"]["externalParameters"]
    assert (external["version"], external["tag"]) == (released.version, f"v{released.version}")
    assert rows[provenance.FILENAME]["provenance"] == "ok"
    assert rows[f"images.json:{IMAGE}"]["ok"]
    # Each subject is covered by a row: files by path, python files by name, repositories.
    names = {name.removeprefix("python/") for name in envelope.subjects}
    by_destination = {str(row["destination"]).removeprefix("oci://") for row in rows.values()}
    repositories = {n for n in envelope.subjects if agreement.is_repository(n)}
    assert names - repositories <= set(rows)
    assert all(any(d.startswith(r) for d in by_destination) for r in repositories)


def test_a_changed_binary_whose_checksum_line_was_deleted(released: Released) -> None:
    rel = f"bin/ironcage-{released.version}-linux-x86_64"
    (released.folder / rel).write_bytes(b"\x7fELF" + os.urandom(64))
    sums = released.folder / checksums.FILENAME
    sums.write_text("".join(line for line in sums.read_text().splitlines(True) if rel not in line))
    result = released.invoke_verify()
    stderr = _fails_naming(result, rel)
    assert "missing from SHA256SUMS" in stderr
    assert "the provenance says" in stderr


def test_an_older_release_provenance_in_place_of_this_ones(
    released: Released, older: Released
) -> None:
    # The older release's provenance, signed by the same key, and a release.json edited to
    # the older image digest (a roll-back) and its checksums to match.
    path = released.folder / provenance.FILENAME
    path.write_bytes((older.folder / provenance.FILENAME).read_bytes())
    old_images = json.loads((older.folder / "images.json").read_text())
    record = json.loads((released.folder / "release.json").read_text())
    record["images"] = old_images
    (released.folder / "release.json").write_text(json.dumps(record, indent=2))
    (released.folder / "images.json").write_text(json.dumps(old_images, indent=2))
    checksums.write(released.folder)
    result = released.invoke_verify("--json")
    stderr = _fails_naming(result, provenance.FILENAME)
    assert f"names version '{older.version}', not {released.version}" in stderr
    assert f"names tag 'v{older.version}', not v{released.version}" in stderr
    # The image tag of this release no longer names the rolled-back digest either.
    assert not _rows(result)[IMAGE]["ok"]


def test_an_images_json_entry_changed_to_a_signed_digest_of_an_older_release(
    released: Released, older: Released
) -> None:
    old_digest = json.loads((older.folder / "images.json").read_text())[IMAGE]["digest"]
    ref = f"{released.image_repository}@{old_digest}"
    assert signing.verify(ref, released.keys.public, oci.Access(plain_http=True)) is None
    path = released.folder / "images.json"
    images = json.loads(path.read_text())
    images[IMAGE]["digest"] = old_digest
    path.write_text(json.dumps(images, indent=2))
    checksums.write(released.folder)
    result = released.invoke_verify("--json")
    stderr = _fails_naming(result, f"images.json:{IMAGE}", "images.json")
    assert "release.json records" in stderr
    rows = _rows(result)
    assert rows[IMAGE]["ok"], "the image itself still verifies"
    assert "provenance names" in str(rows[f"images.json:{IMAGE}"]["provenance"])


def test_a_provenance_signed_by_another_key(released: Released) -> None:
    path = released.folder / provenance.FILENAME
    statement = provenance.read(path).statement
    other = signing.SigningKey(
        str(released.keys.other_key), released.keys.other_public, OTHER_PASSWORD
    )
    provenance.write(path, provenance.envelope(statement, other))
    checksums.write(released.folder)
    result = released.invoke_verify("--json")
    stderr = _fails_naming(result, provenance.FILENAME, released.wheel, IMAGE)
    assert "signature does not verify" in stderr
    # The copy of the key that came with the artifacts is never trusted instead.
    (released.folder / provenance.PUBLIC_KEY).write_bytes(released.keys.other_public.read_bytes())
    assert released.invoke_verify().returncode == 11


def test_a_record_entry_the_provenance_does_not_name(released: Released) -> None:
    path = released.folder / "release.json"
    record = json.loads(path.read_text())
    record["images"]["stray"] = {**record["images"][IMAGE], "repository": "127.0.0.1:1/x/stray"}
    path.write_text(json.dumps(record, indent=2))
    result = released.invoke_verify()
    _fails_naming(result, "stray", "images.json:stray")


def test_the_pilot_refuses_unsigned_and_foreign_image_digests(released: Released) -> None:
    """The deploy asks the registry for each digest's signature before compose runs."""
    host, namespace = oci.split_ref(released.target.registry)
    access = oci.Access(plain_http=True)
    digests = {
        "control-panel-api": push_image(
            host, f"{namespace}/control-panel-api", released.version, os.urandom(32)
        ),
        "control-panel-web": push_image(
            host, f"{namespace}/control-panel-web", released.version, os.urandom(32)
        ),
    }
    other = signing.SigningKey(
        str(released.keys.other_key), released.keys.other_public, OTHER_PASSWORD
    )
    web = f"{released.target.registry}/control-panel-web@{digests['control-panel-web']}"
    signing.sign(web, other, access)
    trust = Trust(released.target.name, released.keys.public, access)
    with pytest.raises(VerificationError, match=r"Refusing to deploy 2 images") as caught:
        pilot.deploy(released.root, released.version, released.target.registry, trust=trust)
    message = str(caught.value)
    assert "control-panel-api" in message and "control-panel-web" in message
    assert f"{IMAGE} (" not in message, "the signed agent-runtime image is not refused"
    assert not (pilot.pilot_dir(released.root) / "history.json").exists(), "compose never ran"
    # Signed by the release key, the same digests pass the same check.
    key = signing.SigningKey(str(released.keys.key), released.keys.public, KEY_PASSWORD)
    refs = {name: f"{released.target.registry}/{name}@{d}" for name, d in digests.items()}
    for ref in refs.values():
        signing.sign(ref, key, access)
    verify_images(refs, trust)
    # A target without a key deploys by digest and says that it was released unsigned.
    said: list[str] = []
    verify_images(refs, Trust("unsigned", None, access), said.append)
    assert said and "releases unsigned" in said[0]


def test_release_fetch_writes_only_a_record_that_verifies(
    released: Released,
    older: Released,
    tmp_path: Path,
    github: str,  # noqa: F811
) -> None:
    """The record a deploy reads is written into dist/<version>/ only once it verifies."""
    tag = f"v{released.version}"
    assets.attach(released.folder, tag, "notes", api=github, say=lambda _line: None)
    dest = tmp_path / "elsewhere" / "dist" / released.version
    written = agreement.fetch_verified(
        tag, released.version, dest, released.keys.public, api=github
    )
    assert sorted(p.name for p in written) == sorted(
        ["images.json", "release.json", checksums.FILENAME, provenance.FILENAME]
    )
    for path in written:
        assert path.read_bytes() == (released.folder / path.name).read_bytes()
    # On GitHub, images.json replaced by the older release's (its digests are signed too).
    _GitHub.blobs["images.json"] = (older.folder / "images.json").read_bytes()
    again = tmp_path / "again" / "dist" / released.version
    with pytest.raises(VerificationError, match=rf"images\.json:{IMAGE} \(") as caught:
        agreement.fetch_verified(tag, released.version, again, released.keys.public, api=github)
    assert "release.json records" in str(caught.value)
    assert not again.exists(), "nothing of a record that does not verify is written"


def test_helm_refuses_an_unsigned_image_digest_before_any_chart_is_touched(
    released: Released,
) -> None:
    from releasekit.deploy import helm as helm_deploy
    from releasekit.deploy import helm_pins
    from releasekit.deploy.kube_env import Kube, KubeEnv

    access = oci.Access(plain_http=True)
    trust = Trust(released.target.name, released.keys.public, access)
    env = KubeEnv("staging", "staging", "ironcage-staging", Kube())
    upgrades = helm_deploy.plan(released.root, env, released.version)
    # As released: the pinned digest is signed by the release key.
    helm_pins.check_pins(released.root, [(up.values, up.sets) for up in upgrades], trust)
    host, namespace = oci.split_ref(released.target.registry)
    unsigned = push_image(host, f"{namespace}/{IMAGE}", "unsigned", os.urandom(32))
    path = released.folder / "images.json"
    images = json.loads(path.read_text())
    images[IMAGE]["digest"] = unsigned
    path.write_text(json.dumps(images, indent=2))
    upgrades = helm_deploy.plan(released.root, env, released.version)
    with pytest.raises(VerificationError, match=rf"{IMAGE} \(.*@{unsigned}\): .*signatures"):
        helm_deploy.deploy(released.root, env, upgrades, trust=trust)


def test_a_package_verifies_from_its_own_github_release_alone(
    released: Released,
    tmp_path: Path,
    github: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release of several packages gives each package's GitHub release its own files and
    the release's records; a clone without the release folder verifies the package from
    those assets alone, and a swapped asset fails naming it."""
    version, root = released.version, released.root
    owner = {"bin": "cli", "python": "sandbox", "sbom": IMAGE, "charts": IMAGE}
    listed = checksums.parse(released.folder / checksums.FILENAME)
    owned = {rel: owner[rel.split("/")[0]] for rel in listed if rel.split("/")[0] in owner}
    path = released.folder / "release.json"
    record = json.loads(path.read_text())
    record["packages"] = {p: {"version": version, "tag": f"{p}-v{version}"} for p in owner.values()}
    record["registry"] = [
        {"kind": "file", "name": r, "package": p, "path": r} for r, p in owned.items()
    ]
    path.write_text(json.dumps(record, indent=2))
    checksums.write(released.folder)
    monkeypatch.setenv("GITHUB_API_URL", github)
    invoke = str(Path(sys.executable).parent / "invoke")
    for package in ("cli", "sandbox"):
        done = subprocess.run(
            [invoke, "release.assets", "--tag", f"{package}-v{version}"],
            cwd=root, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    attached = {tag: sorted(a["name"] for a in r["assets"]) for tag, r in _GitHub.releases.items()}
    records = ["SHA256SUMS", "cosign.pub", "images.json", "provenance.intoto.jsonl", "release.json"]
    binary = f"ironcage-{version}-linux-x86_64"
    assert attached[f"cli-v{version}"] == sorted([binary, *records])
    dists = sorted(Path(rel).name for rel, p in owned.items() if p == "sandbox")
    assert attached[f"sandbox-v{version}"] == sorted([*dists, *records])

    released.folder.rename(tmp_path / "elsewhere")  # a clone that holds no record of it
    result = released.invoke_verify("--package", "cli", "--json")
    assert result.returncode == 0, result.stderr
    rows = _rows(result)
    fetched = root / "build" / "verify" / f"cli-v{version}"
    assert str(rows[f"bin/{binary}"]["destination"]).endswith(str(fetched.relative_to(root)))
    assert rows[f"bin/{binary}"]["digest_check"] == "ok"
    assert rows[provenance.FILENAME]["provenance"] == "ok"
    assert rows[released.wheel]["ok"] and rows[IMAGE]["ok"]  # at the index, in the registry
    # The binary swapped on GitHub: the signed provenance still names the released one.
    _GitHub.blobs[binary] = b"\x7fELF" + os.urandom(64)
    _fails_naming(released.invoke_verify("--package", "cli"), f"bin/{binary}")
