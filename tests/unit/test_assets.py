"""Release assets against a stand-in of GitHub's release API on 127.0.0.1 (GitHub itself is
out of reach here); the stand-in stores what it receives so the test checks the bytes."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from releasekit.core.errors import ConflictError, PreflightError, VerificationError
from releasekit.publish import assets


class _GitHub(BaseHTTPRequestHandler):
    releases: dict[str, dict[str, Any]] = {}
    blobs: dict[str, bytes] = {}

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    digests = True
    """Whether the listing gives each asset's digest (GitHub did not always)."""

    def do_GET(self) -> None:
        assert self.headers["Authorization"] == "Bearer gh-token-for-tests"
        if self.path.startswith("/assets/"):
            data = self.blobs[self.path.rsplit("/", 1)[-1]]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        tag = self.path.rsplit("/", 1)[-1]
        if tag in self.releases:
            self._send(200, self.releases[tag])
        else:
            self._send(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        data = self.rfile.read(length)
        host = f"http://{self.headers['Host']}"
        if "/releases/" in self.path and "?name=" in self.path:
            name = self.path.split("?name=", 1)[1]
            tag = self.path.split("/releases/", 1)[1].split("/", 1)[0]
            self.blobs[name] = data
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            entry = {"name": name, "size": len(data), "url": f"{host}/assets/{name}"}
            if self.digests:
                entry["digest"] = digest
            self.releases[tag]["assets"].append(entry)
            self._send(201, {"name": name})
            return
        body = json.loads(data)
        tag = body["tag_name"]
        self.releases[tag] = {
            **body,
            "assets": [],
            "upload_url": f"{host}/repos/o/r/releases/{tag}/assets{{?name,label}}",
        }
        self._send(201, self.releases[tag])


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    _GitHub.releases, _GitHub.blobs, _GitHub.digests = {}, {}, True
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("GH_TOKEN", "gh-token-for-tests")
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _release(tmp_path: Path) -> Path:
    folder = tmp_path / "dist/1.2.0"
    (folder / "bin").mkdir(parents=True)
    (folder / "sbom").mkdir()
    (folder / "python").mkdir()
    (folder / "bin/ironcage-1.2.0-linux-x86_64").write_bytes(b"\x7fELF binary")
    (folder / "sbom/ironcage-cli-1.2.0.cdx.json").write_text("{}")
    (folder / "python/ironcage_cli-1.2.0-py3-none-any.whl").write_bytes(b"wheel")
    (folder / "RELEASE_NOTES.md").write_text("## 1.2.0\n")
    (folder / "images.json").write_text('{"app": {"digest": "sha256:aa"}}\n')
    (folder / "release.json").write_text('{"version": "1.2.0"}\n')
    (folder / "provenance.intoto.jsonl").write_text(_envelope(b'{"subject": []}', b"sig-1"))
    (folder / "cosign.pub").write_text("-----BEGIN PUBLIC KEY-----\n")
    listed = ("RELEASE_NOTES.md", "bin/ironcage-1.2.0-linux-x86_64", "cosign.pub", "images.json")
    listed += ("python/ironcage_cli-1.2.0-py3-none-any.whl", "sbom/ironcage-cli-1.2.0.cdx.json")
    (folder / "SHA256SUMS").write_text(
        "".join(
            f"{hashlib.sha256((folder / rel).read_bytes()).hexdigest()}  {rel}\n" for rel in listed
        )
    )
    return folder


def _envelope(payload: bytes, signature: bytes) -> str:
    """A DSSE envelope line: the statement ``payload`` and a ``signature``."""
    encoded = base64.b64encode(payload).decode()
    sig = base64.b64encode(signature).decode()
    return json.dumps({"payload": encoded, "payloadType": "x", "signatures": [{"sig": sig}]})


def test_collect_picks_the_release_assets(tmp_path: Path) -> None:
    names = [a.name for a in assets.collect(_release(tmp_path))]
    assert names == [
        "RELEASE_NOTES.md",
        "SHA256SUMS",
        "ironcage-1.2.0-linux-x86_64",
        "cosign.pub",
        "images.json",
        "provenance.intoto.jsonl",
        "release.json",
        "ironcage-cli-1.2.0.cdx.json",
    ]


def test_attach_creates_uploads_then_skips(tmp_path: Path, github: str) -> None:
    folder = _release(tmp_path)
    first = assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)
    assert [status for _, status in first] == ["uploaded"] * 8
    assert _GitHub.blobs["ironcage-1.2.0-linux-x86_64"] == b"\x7fELF binary"
    assert _GitHub.releases["v1.2.0"]["body"] == "notes"
    again = assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)
    assert [status for _, status in again] == ["skipped"] * 8


def test_download_puts_each_asset_at_its_sha256sums_path(tmp_path: Path, github: str) -> None:
    folder = _release(tmp_path)
    assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)
    fetched = assets.download("v1.2.0", tmp_path / "fetched", api=github, say=lambda _: None)
    for rel in (
        "bin/ironcage-1.2.0-linux-x86_64",
        "sbom/ironcage-cli-1.2.0.cdx.json",
        "SHA256SUMS",
        "release.json",
        "provenance.intoto.jsonl",
        "cosign.pub",
    ):
        assert (fetched / rel).read_bytes() == (folder / rel).read_bytes()


def test_attach_refuses_different_content(tmp_path: Path, github: str) -> None:
    folder = _release(tmp_path)
    assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)
    sums = folder / "SHA256SUMS"
    sums.write_text(
        "".join(line for line in sums.read_text().splitlines(True) if ".whl" not in line)
    )
    with pytest.raises(ConflictError, match=r"already has an asset SHA256SUMS"):
        assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)


def test_missing_token_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    with pytest.raises(PreflightError, match=r"GH_TOKEN not set"):
        assets.attach(_release(tmp_path), "v1.2.0", "n", say=lambda _: None)


def test_unfinished_release_folder(tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match=r"holds no SHA256SUMS"):
        assets.collect(tmp_path)


def test_fetch_brings_the_record_back_for_a_deploy(tmp_path: Path, github: str) -> None:
    folder = _release(tmp_path)
    assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)
    got = assets.fetch("v1.2.0", tmp_path / "elsewhere", api=github)
    assert [p.name for p in got] == ["images.json", "release.json"]
    assert got[0].read_bytes() == (folder / "images.json").read_bytes()
    with pytest.raises(PreflightError, match=r"has no GitHub release v9\.9\.9"):
        assets.fetch("v9.9.9", tmp_path / "x", api=github)


def test_collect_refuses_a_file_changed_since_it_was_recorded(tmp_path: Path) -> None:
    folder = _release(tmp_path)
    binary = folder / "bin/ironcage-1.2.0-linux-x86_64"
    recorded = hashlib.sha256(binary.read_bytes()).hexdigest()
    binary.write_bytes(b"\x7fELF swapped")
    now = hashlib.sha256(binary.read_bytes()).hexdigest()
    with pytest.raises(VerificationError) as info:
        assets.collect(folder)
    assert info.value.exit_code == 11
    message = str(info.value)
    assert str(binary) in message and recorded in message and now in message


def test_collect_refuses_a_file_the_release_did_not_list(tmp_path: Path) -> None:
    folder = _release(tmp_path)
    (folder / "bin/stray-debug-build").write_bytes(b"debug")
    with pytest.raises(VerificationError, match=r"1 file\(s\) no step .*: bin/stray-debug-build"):
        assets.collect(folder)


@pytest.mark.parametrize("digests", [True, False])
def test_attach_compares_by_sha256_even_without_a_digest(
    tmp_path: Path, github: str, digests: bool
) -> None:
    _GitHub.digests = digests
    folder = _release(tmp_path)
    assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)
    again = assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)
    assert {status for _, status in again} == {"skipped"}
    # Same size, other bytes: a size says nothing, the sha256 tells them apart.
    (folder / "images.json").write_text('{"app": {"digest": "sha256:bb"}}\n')
    sums = folder / "SHA256SUMS"
    old = hashlib.sha256(b'{"app": {"digest": "sha256:aa"}}\n').hexdigest()
    new = hashlib.sha256((folder / "images.json").read_bytes()).hexdigest()
    sums.write_text(sums.read_text().replace(old, new))
    with pytest.raises(ConflictError, match=r"already has an asset (SHA256SUMS|images\.json)"):
        assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)


def test_a_provenance_signed_again_with_the_same_statement_is_already_attached(
    tmp_path: Path, github: str
) -> None:
    _GitHub.digests = False
    folder = _release(tmp_path)
    assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)
    provenance = folder / "provenance.intoto.jsonl"
    provenance.write_text(_envelope(b'{"subject": []}', b"sig-2"))
    again = dict(
        (a.name, status)
        for a, status in assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)
    )
    assert again["provenance.intoto.jsonl"] == "skipped"
    provenance.write_text(_envelope(b'{"subject": [1]}', b"sig-3"))
    with pytest.raises(ConflictError, match=r"provenance\.intoto\.jsonl"):
        assets.attach(folder, "v1.2.0", "notes", api=github, say=lambda _: None)


_SHARED = [
    "RELEASE_NOTES.md",
    "SHA256SUMS",
    "cosign.pub",
    "images.json",
    "provenance.intoto.jsonl",
    "release.json",
]


def _independent(tmp_path: Path) -> Path:
    """The folder of a release of sandbox 0.3.0, cli 0.2.1 and marketing-site 0.1.4, with
    release.json's registry naming each built file's package (as the report step writes it)."""
    folder = tmp_path / "dist/sandbox-0.3.0+cli-0.2.1+marketing-site-0.1.4"
    owned = {
        "python/ironcage_sandbox-0.3.0-py3-none-any.whl": "sandbox",
        "python/ironcage_sandbox-0.3.0.tar.gz": "sandbox",
        "sbom/ironcage-sandbox-0.3.0.cdx.json": "sandbox",
        "python/ironcage_cli-0.2.1-py3-none-any.whl": "cli",
        "python/ironcage_cli-0.2.1.tar.gz": "cli",
        "sbom/ironcage-cli-0.2.1.cdx.json": "cli",
        "bin/ironcage-0.2.1-linux-x86_64": "cli",
        "site/marketing-site-0.1.4.tar.gz": "marketing-site",
        "sbom/marketing-site-0.1.4.cdx.json": "marketing-site",
        "sbom/marketing-site-0.1.4-linux-arm64.cdx.json": "marketing-site",
        "charts/agent-runtime-0.2.1.tgz": "agent-runtime",
    }
    for rel in owned:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(f"{rel} bytes".encode())
    (folder / "RELEASE_NOTES.md").write_text("## sandbox-0.3.0+cli-0.2.1+marketing-site-0.1.4\n")
    (folder / "images.json").write_text('{"marketing-site": {"digest": "sha256:aa"}}\n')
    (folder / "third-party.json").write_text("{}\n")
    (folder / "cosign.pub").write_text("-----BEGIN PUBLIC KEY-----\n")
    (folder / "provenance.intoto.jsonl").write_text(_envelope(b'{"subject": []}', b"sig-1"))
    listed = sorted([*owned, "RELEASE_NOTES.md", "images.json", "third-party.json", "cosign.pub"])
    (folder / "SHA256SUMS").write_text(
        "".join(
            f"{hashlib.sha256((folder / rel).read_bytes()).hexdigest()}  {rel}\n" for rel in listed
        )
    )
    packages = {"sandbox": "0.3.0", "cli": "0.2.1", "marketing-site": "0.1.4"}
    registry = [{"kind": "file", "name": r, "package": p, "path": r} for r, p in owned.items()]
    registry += [{"kind": "checksums", "name": "SHA256SUMS", "path": "SHA256SUMS"}]
    record = {
        "version": folder.name,
        "packages": {p: {"version": v, "tag": f"{p}-v{v}"} for p, v in packages.items()},
        "registry": registry,
    }
    (folder / "release.json").write_text(json.dumps(record))
    return folder


@pytest.mark.parametrize(
    ("package", "own"),
    [
        (
            "sandbox",
            [
                "ironcage-sandbox-0.3.0.cdx.json",
                "ironcage_sandbox-0.3.0-py3-none-any.whl",
                "ironcage_sandbox-0.3.0.tar.gz",
            ],
        ),
        (
            "cli",
            [
                "ironcage-0.2.1-linux-x86_64",
                "ironcage-cli-0.2.1.cdx.json",
                "ironcage_cli-0.2.1-py3-none-any.whl",
                "ironcage_cli-0.2.1.tar.gz",
            ],
        ),
        (
            "marketing-site",
            [
                "marketing-site-0.1.4-linux-arm64.cdx.json",
                "marketing-site-0.1.4.cdx.json",
                "marketing-site-0.1.4.tar.gz",
            ],
        ),
    ],
)
def test_a_package_release_gets_its_own_files_and_the_shared_records(
    tmp_path: Path, package: str, own: list[str]
) -> None:
    names = sorted(a.name for a in assets.collect(_independent(tmp_path), package))
    assert names == sorted([*own, *_SHARED])


def test_the_whole_release_without_a_package_keeps_the_lockstep_selection(tmp_path: Path) -> None:
    names = {a.name for a in assets.collect(_independent(tmp_path))}
    assert "ironcage-0.2.1-linux-x86_64" in names and "marketing-site-0.1.4.tar.gz" in names
    assert not any(name.endswith((".whl", ".tgz")) for name in names)  # the index, the charts


def test_a_package_the_release_did_not_release_is_refused(tmp_path: Path) -> None:
    folder = _independent(tmp_path)
    with pytest.raises(PreflightError, match=r"does not record a release of agent-runtime"):
        assets.collect(folder, "agent-runtime")
    lockstep = _release(tmp_path)  # a release.json without packages and registry
    with pytest.raises(PreflightError, match=r"release\.json does not record a release of cli"):
        assets.collect(lockstep, "cli")


def test_a_package_file_changed_since_it_was_recorded_is_refused(tmp_path: Path) -> None:
    folder = _independent(tmp_path)
    (folder / "bin/ironcage-0.2.1-linux-x86_64").write_bytes(b"swapped")
    assert assets.collect(folder, "sandbox")  # not one of sandbox's assets
    with pytest.raises(VerificationError, match=r"ironcage-0\.2\.1-linux-x86_64"):
        assets.collect(folder, "cli")


def test_each_package_tag_gets_its_own_github_release(
    tmp_path: Path, github: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", github)  # as GitHub Actions and GHES set it
    folder = _independent(tmp_path)
    for package, tag in (("sandbox", "sandbox-v0.3.0"), ("cli", "cli-v0.2.1")):
        assets.attach(folder, tag, "notes", package=package, say=lambda _: None)
    attached = {
        tag: sorted(a["name"] for a in release["assets"])
        for tag, release in _GitHub.releases.items()
    }
    assert sorted(attached) == ["cli-v0.2.1", "sandbox-v0.3.0"]
    assert "ironcage-0.2.1-linux-x86_64" in attached["cli-v0.2.1"]
    assert "ironcage-0.2.1-linux-x86_64" not in attached["sandbox-v0.3.0"]
    assert "ironcage_sandbox-0.3.0.tar.gz" not in attached["cli-v0.2.1"]
    # A clone that built nothing gets cli's files and the records, at their SHA256SUMS paths.
    fetched = assets.download("cli-v0.2.1", tmp_path / "verify", say=lambda _: None)
    got = sorted(p.relative_to(fetched).as_posix() for p in fetched.rglob("*") if p.is_file())
    assert got == sorted(
        [
            "bin/ironcage-0.2.1-linux-x86_64",
            "python/ironcage_cli-0.2.1-py3-none-any.whl",
            "python/ironcage_cli-0.2.1.tar.gz",
            "sbom/ironcage-cli-0.2.1.cdx.json",
            *_SHARED,
        ]
    )
    for rel in got:
        assert (fetched / rel).read_bytes() == (folder / rel).read_bytes()
