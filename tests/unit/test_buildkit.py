"""BuildKit's side of the image build without a daemon: config, names, layouts and records."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from releasekit.build.images import buildkit, layout, records


@pytest.mark.parametrize(
    ("host", "plain"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:41234", True),
        ("127.0.0.1", True),
        ("ghcr.io", False),
        ("registry.example.com:5000", False),
        ("127.0.0.1.example.com", False),
    ],
)
def test_only_loopback_registries_are_plain_http(host: str, plain: bool) -> None:
    assert buildkit.insecure(host) is plain


def test_config_marks_the_loopback_registries_http(tmp_path: Path) -> None:
    text = buildkit.config_text(
        tmp_path / "state", "unix:///x/buildkitd.sock", ["127.0.0.1:5000", "ghcr.io"]
    )
    assert f'root = "{tmp_path / "state"}"' in text
    assert 'address = ["unix:///x/buildkitd.sock"]' in text
    assert '[registry."127.0.0.1:5000"]\n  http = true\n  insecure = true' in text
    assert "ghcr.io" not in text
    assert "[worker.containerd]\n  enabled = false" in text


def test_state_dir_follows_the_environment(tmp_path: Path) -> None:
    assert buildkit.state_dir({buildkit.STATE_ENV: str(tmp_path)}) == tmp_path
    assert buildkit.state_dir({}).parts[-3:] == (".cache", "releasekit", "buildkit")


def test_summary_counts_steps_and_cached_ones() -> None:
    log = "\n".join(
        [
            "#1 [internal] load build definition from x.Dockerfile",
            "#1 DONE 0.0s",
            "#5 [builder 1/3] RUN python3 -m venv /opt/venv",
            "#5 CACHED",
            "#6 [builder 2/3] COPY build/wheelhouse/x/ /wheels/",
            "#6 DONE 0.1s",
        ]
    )
    assert buildkit.summary(log) == "3 steps, 1 cached"


def _blob(root: Path, data: dict[str, object]) -> tuple[str, int]:
    raw = json.dumps(data).encode()
    digest = hashlib.sha256(raw).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(raw)
    return f"sha256:{digest}", len(raw)


def test_read_index_gives_each_platform_manifest_and_config(tmp_path: Path) -> None:
    children = []
    expected = []
    for arch in ("amd64", "arm64"):
        config, csize = _blob(tmp_path, {"architecture": arch, "os": "linux"})
        manifest = {"schemaVersion": 2, "config": {"digest": config, "size": csize}, "layers": []}
        digest, size = _blob(tmp_path, manifest)
        plat = {"architecture": arch, "os": "linux"}
        children.append({"digest": digest, "size": size, "platform": plat})
        expected.append(layout.PlatformImage(f"linux/{arch}", digest, config))
    attestation = {"digest": children[0]["digest"], "platform": {"os": "unknown",
                   "architecture": "unknown"}}  # fmt: skip
    index_type = "application/vnd.oci.image.index.v1+json"
    index, size = _blob(tmp_path, {"mediaType": index_type, "manifests": [*children, attestation]})
    top = {"manifests": [{"mediaType": index_type, "digest": index, "size": size}]}
    (tmp_path / "index.json").write_text(json.dumps(top))
    found = layout.read_index(tmp_path)
    assert found.digest == index
    assert found.images == tuple(expected)
    assert found.platforms == ("linux/amd64", "linux/arm64")


def test_image_record_round_trips_and_a_smoke_pass_is_kept_per_digest(tmp_path: Path) -> None:
    amd, arm = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    record = records.ImageRecord(
        "api", "1.2.3", "sha256:" + "0" * 64,
        (("linux/amd64", amd, "sha256:" + "a" * 64), ("linux/arm64", arm, "sha256:" + "b" * 64)),
        "base", (), ("127.0.0.1:5000/ironcage/api",),
    )  # fmt: skip
    records.write_record(tmp_path, record)
    assert records.read_record(tmp_path, "api", "1.2.3") == record
    assert records.read_record(tmp_path, "api", "1.2.4") is None
    assert record.manifest("linux/arm64") == arm
    assert record.config("linux/amd64") == "sha256:" + "a" * 64
    definition = records.smoke_definition("api")
    assert definition != records.smoke_definition("api", (arm,))
    assert records.passed(tmp_path, amd, definition) is None
    records.record_smoke(tmp_path, "api", "linux/amd64", amd, definition, ("healthy",))
    assert records.passed(tmp_path, amd, definition) == ["healthy"]
    assert records.passed(tmp_path, arm, definition) is None
    assert records.passed(tmp_path, amd, records.smoke_definition("web")) is None


@pytest.mark.parametrize("name", ["buildkitd", "buildctl", "runc"])
def test_doctor_names_a_missing_builder_with_its_fix(name: str) -> None:
    from releasekit.core import doctor

    (tool,) = [t for t in doctor.needed_by("build.images") if t.name == name]
    problem = doctor.Check(tool, None, None).problem or ""
    assert f"`{name}` is missing" in problem
    assert "scripts/setup.sh --with docker" in problem
    assert ("build-buildkit.sh" in problem) == (name != "runc")
