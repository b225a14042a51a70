"""The recorded files of a release, hashed again: the helper, the report and the sign step."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from releasekit.core import manifest, workspace
from releasekit.core.artifact import Artifact
from releasekit.core.errors import VerificationError
from releasekit.core.recorded import check_unknown, rehashed
from releasekit.release.context import Context
from releasekit.release.plan import Options
from releasekit.release.steps.report import adopt_folder, release_record
from releasekit.release.steps.sign import recorded_files

BINARY = "bin/ironcage-1.5.0-linux-x86_64"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _context(root: Path) -> Context:
    """A release of 1.5.0 whose build recorded a binary, a wheel and SHA256SUMS."""
    ctx = Context(ws=workspace.load(manifest.load(root)), opts=Options())
    ctx.version, ctx.commit = "1.5.0", "c" * 40
    ctx.folder.mkdir(parents=True, exist_ok=True)
    for rel, data in ((BINARY, b"\x7fELF built"), ("python/a-1.5.0-py3-none-any.whl", b"wheel")):
        path = ctx.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        kind = "binary" if rel == BINARY else "wheel"
        ctx.record(Artifact(kind, rel, path=rel, sha256=_sha(data), status="built"))
    (ctx.folder / "SHA256SUMS").write_text("")
    ctx.record(Artifact("checksums", "SHA256SUMS", path="SHA256SUMS", sha256=_sha(b"")))
    return ctx


def test_rehashed_gives_the_path_of_an_unchanged_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"built")
    artifact = Artifact("file", "f", path="f", sha256=_sha(b"built"))
    assert rehashed(tmp_path, artifact) == tmp_path / "f"


@pytest.mark.parametrize(
    ("content", "recorded", "message"),
    [
        (b"swapped", _sha(b"built"), rf"has sha256 {_sha(b'swapped')}, but the release recorded "
         rf"sha256 {_sha(b'built')}"),
        (None, _sha(b"built"), rf"is missing: the release recorded it with {_sha(b'built')}"),
        (b"built", "", r"has no recorded sha256"),
    ],
)  # fmt: skip
def test_rehashed_refuses_with_exit_11(
    tmp_path: Path, content: bytes | None, recorded: str, message: str
) -> None:
    if content is not None:
        (tmp_path / "f").write_bytes(content)
    with pytest.raises(VerificationError, match=message) as info:
        rehashed(tmp_path, Artifact("binary", "f", path="f", sha256=recorded))
    assert info.value.exit_code == 11
    assert str(tmp_path / "f") in str(info.value)
    assert "invoke release --yes" in str(info.value)


def test_check_unknown_names_every_stray_but_the_allowed(tmp_path: Path) -> None:
    known = [Artifact("binary", "bin/a", path="bin/a")]
    check_unknown(tmp_path, ["bin/a", "SHA256SUMS"], known, allowed=("SHA256SUMS",))
    with pytest.raises(VerificationError, match=r"2 file\(s\) .*: bin/stray, x\.txt\."):
        check_unknown(tmp_path, ["bin/a", "x.txt", "bin/stray"], known)


def test_the_report_never_overwrites_a_recorded_hash(make_repo) -> None:
    ctx = _context(make_repo())
    recorded = ctx.artifacts.get("binary", BINARY)
    (ctx.folder / BINARY).write_bytes(b"\x7fELF swapped while waiting for --resume")
    with pytest.raises(VerificationError, match=rf"{BINARY} has sha256 .* but the release"):
        adopt_folder(ctx)
    assert ctx.artifacts.get("binary", BINARY) == recorded


def test_the_report_refuses_a_stray_file_by_name(make_repo) -> None:
    ctx = _context(make_repo())
    (ctx.folder / "bin/stray-debug-build").write_bytes(b"debug")
    with pytest.raises(VerificationError, match=r"bin/stray-debug-build"):
        adopt_folder(ctx)
    assert ctx.artifacts.get("binary", "bin/stray-debug-build") is None
    (ctx.folder / "bin/stray-debug-build").unlink()
    assert adopt_folder(ctx) == [BINARY, "python/a-1.5.0-py3-none-any.whl"]


def test_the_sign_step_reads_only_recorded_unchanged_files(make_repo) -> None:
    ctx = _context(make_repo())
    assert recorded_files(ctx) == {
        BINARY: _sha(b"\x7fELF built"),
        "python/a-1.5.0-py3-none-any.whl": _sha(b"wheel"),
    }
    (ctx.folder / BINARY).write_bytes(b"\x7fELF swapped")
    with pytest.raises(VerificationError, match=BINARY):
        recorded_files(ctx)


def test_release_json_holds_no_run_of_the_release(make_repo) -> None:
    """Statuses and timings differ between runs; release.json of two runs is the same."""
    root = make_repo()
    first, second = _context(root), _context(root)
    first.artifacts.update("wheel", "python/a-1.5.0-py3-none-any.whl", destination="http://i",
                           status="uploaded")  # fmt: skip
    second.artifacts.update("wheel", "python/a-1.5.0-py3-none-any.whl", destination="http://i",
                            status="skipped")  # fmt: skip
    for ctx in (first, second):
        ctx.target = SimpleNamespace(describe=lambda: {"pypi": "http://i"})  # type: ignore[assignment]
    listed = {BINARY}
    one, two = release_record(first, listed), release_record(second, listed)
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    assert "status" not in json.dumps(one)
    assert not {"steps", "how", "deployed"} & set(one)
    assert one["python"] == {"a-1.5.0-py3-none-any.whl": {"sha256": _sha(b"wheel")}}
