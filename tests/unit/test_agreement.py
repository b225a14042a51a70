"""The release's records held against the provenance's subjects, and the pins a deploy checks.

No cosign here: the subjects are given as a verified provenance would give them; the
signature checks themselves run for real in tests/integration/supply_chain.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from releasekit.core.errors import PreflightError, PublishError, VerificationError
from releasekit.deploy import helm_pins, pilot_images
from releasekit.publish import agreement, oci, provenance
from releasekit.publish.rows import NA, OK
from releasekit.publish.supply_chain import Record
from releasekit.publish.trust import Trust, key_file, verify_images

REPO = "127.0.0.1:5000/ironcage/agent-runtime"
DIGEST = "sha256:" + "a" * 64
OLDER = "sha256:" + "b" * 64


def _record(**images: str) -> Record:
    data = {
        "version": "1.2.0",
        "images": {
            name: {"repository": f"127.0.0.1:5000/ironcage/{name}", "digest": d, "tags": []}
            for name, d in images.items()
        },
        "python": {"x-1.2.0-py3-none-any.whl": {"sha256": "c" * 64}},
    }
    return Record.from_data(data, {"python/x-1.2.0-py3-none-any.whl": "c" * 64})


def _statement(version: str, **external: str) -> dict[str, object]:
    return {
        "predicate": {"buildDefinition": {"externalParameters": {"version": version, **external}}}
    }


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (_statement("1.2.0", tag="v1.2.0"), None),
        (_statement("1.1.0", tag="v1.1.0"), "names version '1.1.0', not 1.2.0; names tag"),
        (_statement("1.2.0"), r"names no tag \(this release's is v1.2.0\)"),
        (_statement("1.2.0", tag="v1.2.0-rc.1"), "names tag 'v1.2.0-rc.1', not v1.2.0"),
        ({}, "names version None, not 1.2.0"),
    ],
)
def test_the_provenance_must_name_this_version_and_tag(
    statement: dict[str, object], expected: str | None
) -> None:
    found = provenance.claims(statement, "1.2.0", "v1.2.0")
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert re.search(expected, found), found


@pytest.mark.parametrize(
    ("name", "repository"),
    [
        (REPO, True),
        ("ghcr.io/ironcage/charts/agent-runtime", True),
        ("localhost/x", True),
        ("python/ironcage_cli-1.0.0.tar.gz", False),
        ("bin/ironcage-1.0.0-linux-x86_64", False),
        ("images.json", False),
    ],
)
def test_repositories_and_files_are_told_apart(name: str, repository: bool) -> None:
    assert agreement.is_repository(name) is repository


def test_images_json_agrees_with_release_json_and_the_provenance(tmp_path: Path) -> None:
    record = _record(**{"agent-runtime": DIGEST})
    images = {"agent-runtime": {"repository": REPO, "digest": DIGEST, "tags": ["1.2.0"]}}
    (tmp_path / "images.json").write_text(json.dumps(images))
    (row,) = agreement.images_rows(tmp_path, record, {REPO: "a" * 64})
    assert row.ok and row.artifact == "images.json:agent-runtime"
    # Rolled back to another (signed) digest: release.json and the provenance disagree.
    images["agent-runtime"]["digest"] = OLDER
    (tmp_path / "images.json").write_text(json.dumps(images))
    (row,) = agreement.images_rows(tmp_path, record, {REPO: "a" * 64})
    assert row.digest_check.startswith("release.json records")
    assert row.provenance.startswith("provenance names sha256:aaaaaaaaaaaa")
    # An entry missing from images.json, one too many.
    images = {"stray": {"repository": f"{REPO}-x", "digest": DIGEST, "tags": []}}
    (tmp_path / "images.json").write_text(json.dumps(images))
    rows = {r.artifact: r for r in agreement.images_rows(tmp_path, record, {REPO: "a" * 64})}
    assert rows["images.json:stray"].digest_check == "not in release.json"
    assert rows["images.json:stray"].provenance == "not named in the provenance"
    assert rows["images.json:agent-runtime"].digest_check == "missing from images.json"


def test_every_subject_no_record_lists_fails(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").write_bytes(b"changed")
    subjects = {
        "bin/tool": "d" * 64,
        "sbom/gone.cdx.json": "e" * 64,
        "python/x-1.2.0-py3-none-any.whl": "c" * 64,
        "127.0.0.1:5000/ironcage/control-panel-api": "f" * 64,
    }
    record = _record()
    rows = {
        r.artifact: r
        for r in agreement.uncovered_rows(subjects, agreement.covered(record), tmp_path)
    }
    assert set(rows) == {
        "bin/tool",
        "sbom/gone.cdx.json",
        "127.0.0.1:5000/ironcage/control-panel-api",
    }
    assert rows["bin/tool"].provenance == "named in the provenance, missing from SHA256SUMS"
    assert "the provenance says sha256:dddddddddddd" in rows["bin/tool"].digest_check
    assert rows["sbom/gone.cdx.json"].digest_check == "not in the release folder"
    api = rows["127.0.0.1:5000/ironcage/control-panel-api"]
    assert api.provenance == "named in the provenance, missing from release.json"
    assert all(not r.ok for r in rows.values())
    assert agreement.uncovered_rows(agreement.UNSIGNED, set(), tmp_path) == []


@pytest.mark.parametrize(
    ("subjects", "digest", "verdict"),
    [
        (agreement.UNSIGNED, DIGEST, NA),
        (None, DIGEST, "provenance not verified (see its row)"),
        ({}, DIGEST, "not named in the provenance"),
        ({REPO: "a" * 64}, DIGEST, OK),
        ({REPO: "a" * 64}, "a" * 64, OK),
        ({REPO: "b" * 64}, DIGEST, "provenance names sha256:bbbbbbbbbbbb…, not this digest"),
    ],
)
def test_named(subjects: dict[str, str] | None, digest: str, verdict: str) -> None:
    assert agreement.named(subjects, REPO, digest) == verdict


def test_a_record_without_a_key_is_checked_for_agreement_only(tmp_path: Path) -> None:
    record = _record(**{"agent-runtime": DIGEST})
    images = {"agent-runtime": {"repository": REPO, "digest": OLDER, "tags": []}}
    (tmp_path / "images.json").write_text(json.dumps(images))
    rows = agreement.verify_record(tmp_path, record, None, "1.3.0", "v1.3.0")
    failed = {r.artifact: r.problems for r in rows if not r.ok}
    assert failed == {
        "release.json": ["digest: names version 1.2.0, not 1.3.0"],
        "images.json:agent-runtime": [f"digest: release.json records {REPO}@{DIGEST[:19]}…"],
    }


def test_helm_pins_name_the_reference_the_chart_renders(repo_root: Path) -> None:
    chart = repo_root / "helm" / "control-panel"
    sets = [
        "image.registry=127.0.0.1:5000",
        f"api.image.digest={DIGEST}",
        "api.image.repository=ns/control-panel-api",
    ]
    refs = helm_pins.pinned_refs(chart, chart / "values-dev.yaml", sets)
    assert refs == {"control-panel-api": f"127.0.0.1:5000/ns/control-panel-api@{DIGEST}"}
    runtime = repo_root / "helm" / "agent-runtime"
    sets = ["image.registry=reg.example:443", f"image.digest={OLDER}"]
    refs = helm_pins.pinned_refs(runtime, runtime / "values-prod.yaml", sets)
    assert refs == {"agent-runtime": f"reg.example:443/ironcage/agent-runtime@{OLDER}"}
    # A third-party image pinned by digest is not the release's to sign.
    sets += ["redis.image.registry=reg.example:443", f"redis.image.digest={DIGEST}"]
    refs = helm_pins.pinned_refs(runtime, runtime / "values-prod.yaml", sets)
    assert refs["redis"] == f"reg.example:443/redis@{DIGEST}"
    refs = helm_pins.pinned_refs(runtime, runtime / "values-prod.yaml", sets, {"agent-runtime"})
    assert list(refs) == ["agent-runtime"]


def test_the_pilot_takes_every_image_by_a_digest_variable(repo_root: Path) -> None:
    compose = repo_root / "docker" / "compose.yaml"
    assert pilot_images.names(compose) == [
        "control-panel-api",
        "control-panel-web",
        "agent-runtime",
    ]
    assert pilot_images.digest_variable("control-panel-api") == "CONTROL_PANEL_API_DIGEST"


def test_a_compose_image_with_a_misnamed_digest_variable(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text('image: "r/web:${IRONCAGE_VERSION:-1.0.0}${WEB_SHA:-}"\n')
    with pytest.raises(
        PublishError, match=r"takes its digest from \$\{WEB_SHA\}; name .* WEB_DIGEST"
    ):
        pilot_images.names(compose)


def test_a_deploy_refuses_an_image_not_pinned_by_digest() -> None:
    trust = Trust("sandbox", None, oci.Access(plain_http=True))
    with pytest.raises(VerificationError, match=r"Image web would run as r/web:1.0, not by digest"):
        verify_images({"web": "r/web:1.0"}, trust)
    said: list[str] = []
    verify_images({"web": f"r/web@{DIGEST}"}, trust, said.append)
    assert said == [
        "target `sandbox` releases unsigned (no signing_key_env): running 1 images by digest "
        "without a signature check"
    ]


def test_a_key_from_a_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----"
    monkeypatch.setenv("RELEASE_PUBLIC_KEY", pem)
    path = key_file(tmp_path, "env://RELEASE_PUBLIC_KEY")
    assert path.read_text() == pem + "\n"
    assert key_file(tmp_path, "keys/cosign.pub") == Path("keys/cosign.pub")
    monkeypatch.setenv("RELEASE_PUBLIC_KEY", "")
    with pytest.raises(PreflightError, match=r"RELEASE_PUBLIC_KEY does not hold a public key"):
        key_file(tmp_path, "env://RELEASE_PUBLIC_KEY")
