"""The provenance's shape without cosign: PAE, statement, envelope reading, subjects."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from releasekit.core.errors import PublishError
from releasekit.publish import keyless, provenance, supply_chain
from releasekit.publish.provenance import Subject
from releasekit.publish.verify import Row, failures


def test_pae_is_the_dsse_v1_encoding() -> None:
    # The example of the DSSE specification (protocol.md).
    assert (
        provenance.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_statement_is_in_toto_v1_with_slsa_v1() -> None:
    data = provenance.statement(
        [Subject("b", "22" * 32), Subject("a", "11" * 32), Subject("a", "11" * 32)],
        external={"version": "1.0.0"},
        internal={"toolkit": "releasekit"},
        dependencies=[{"uri": "git+x@refs/tags/v1.0.0", "digest": {"gitCommit": "c" * 40}}],
        builder_id="https://example.invalid/builder",
        invocation="run-1",
        started="2026-01-01T00:00:00Z",
        finished="2026-01-01T00:01:00Z",
    )
    assert data["_type"] == "https://in-toto.io/Statement/v1"
    assert data["predicateType"] == "https://slsa.dev/provenance/v1"
    assert [s["name"] for s in data["subject"]] == ["a", "b"]
    run = data["predicate"]["runDetails"]
    assert run["builder"]["id"] == "https://example.invalid/builder"
    assert run["metadata"]["finishedOn"] == "2026-01-01T00:01:00Z"


def _envelope(path: Path, payload: object, kind: str = provenance.PAYLOAD_TYPE) -> Path:
    body = json.dumps(payload).encode()
    data = {
        "payloadType": kind,
        "payload": base64.b64encode(body).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(b"sig").decode()}],
    }
    path.write_text(json.dumps(data) + "\n")
    return path


def test_read_gives_subjects_and_the_signed_bytes(tmp_path: Path) -> None:
    statement = {"_type": provenance.STATEMENT_TYPE, "subject": [Subject("f", "ab").to_json()]}
    found = provenance.read(_envelope(tmp_path / "p.jsonl", statement))
    assert found.subjects == {"f": "ab"}
    assert found.signature == b"sig"
    assert found.signed.startswith(b"DSSEv1 28 application/vnd.in-toto+json ")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("not json\n", r"p.jsonl is not a DSSE envelope"),
        ('{"payloadType": "x"}\n', r"p.jsonl is not a DSSE envelope .*KeyError"),
    ],
)
def test_read_names_a_broken_file(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    with pytest.raises(PublishError, match=match):
        provenance.read(path)


def test_read_refuses_another_payload_type(tmp_path: Path) -> None:
    path = _envelope(tmp_path / "p.jsonl", {"_type": "x"}, kind="text/plain")
    with pytest.raises(PublishError, match=r"holds a `text/plain` payload"):
        provenance.read(path)


def test_subjects_cover_files_images_and_charts_but_not_release_metadata() -> None:
    record = supply_chain.Record.from_data(
        {
            "version": "1.0.0",
            "images": {"api": {"repository": "r/ns/api", "digest": "sha256:" + "1" * 64}},
            "charts": {
                "c-1.0.0.tgz": {
                    "ref": "oci://r/ns/charts/c:1.0.0",
                    "sha256": "2" * 64,
                    "digest": "sha256:" + "3" * 64,
                }
            },
        },
        {"python/a.whl": "4" * 64, "RELEASE_NOTES.md": "5" * 64, "cosign.pub": "6" * 64},
    )
    assert supply_chain.subjects(record) == [
        Subject("python/a.whl", "4" * 64),
        Subject("r/ns/api", "1" * 64),
        Subject("r/ns/charts/c", "3" * 64),
    ]


def test_failures_name_the_artifact_and_each_failed_check() -> None:
    rows = [
        Row("a.whl", "http://index", "sha256:1", "index serves sha256:9…", "ok", "-", "ok"),
        Row("api", "r/ns/api:1.0.0", "sha256:2", "ok", "no signatures found", "ok", "ok"),
        Row("fine", "dist/1.0.0", "sha256:3"),
    ]
    assert failures(rows) == [
        "a.whl (http://index): digest: index serves sha256:9…",
        "api (r/ns/api:1.0.0): signature: no signatures found",
    ]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.example"}, False),
        (
            {
                "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.example",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t0ken",
            },
            True,
        ),
    ],
)
def test_keyless_signing_needs_an_oidc_identity(environ: dict[str, str], expected: bool) -> None:
    assert keyless.identity(environ) is expected


def test_without_an_identity_nothing_is_signed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in keyless.OIDC_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    said: list[str] = []
    assert keyless.sign_images(tmp_path, "1.0.0", say=said.append) == []
    assert "no OIDC identity" in said[0]
