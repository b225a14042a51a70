"""Which platforms a machine can build, and the release's refusal of another platform set."""

from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.build.images import platforms
from releasekit.core.errors import PreflightError

BOTH = ("linux/amd64", "linux/arm64")
REGISTERED = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


def _binfmt(tmp_path: Path, text: str | None) -> Path:
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    if text is not None:
        (folder / "qemu-aarch64").write_text(text)
    return folder


@pytest.mark.parametrize(
    ("machine", "expected"),
    [("x86_64", "linux/amd64"), ("aarch64", "linux/arm64"), ("arm64", "linux/arm64")],
)
def test_host_platform(machine: str, expected: str) -> None:
    assert platforms.host_platform(machine) == expected


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (REGISTERED, BOTH),
        (REGISTERED.replace("enabled", "disabled"), ("linux/amd64",)),
        (REGISTERED.replace("POF", "PO"), ("linux/amd64",)),
        (None, ("linux/amd64",)),
    ],
    ids=["registered", "disabled", "without-F", "absent"],
)
def test_buildable_platforms_from_the_kernel(
    tmp_path: Path, handler: str | None, expected: tuple[str, ...]
) -> None:
    binfmt = _binfmt(tmp_path, handler)
    assert platforms.buildable_platforms(BOTH, binfmt=binfmt, machine="x86_64") == expected


def test_an_arm64_host_builds_arm64_without_qemu(tmp_path: Path) -> None:
    binfmt = _binfmt(tmp_path, None)
    found = platforms.buildable_platforms(BOTH, binfmt=binfmt, machine="aarch64")
    assert found == ("linux/arm64",)


def test_a_builders_workers_decide(tmp_path: Path) -> None:
    binfmt = _binfmt(tmp_path, None)
    workers = {"linux/arm64", "linux/amd64", "linux/386"}
    assert platforms.buildable_platforms(BOTH, workers=workers, binfmt=binfmt) == BOTH
    assert platforms.buildable_platforms(BOTH, workers={"linux/arm64"}) == ("linux/arm64",)


def test_images_of_the_wanted_platforms_pass() -> None:
    images = {"agent-runtime": ["linux/arm64", "linux/amd64"], "web": BOTH}
    platforms.require_platforms(Path("/repo/release.toml"), BOTH, images)


def test_a_missing_platform_is_refused_naming_the_manifest_and_the_fix() -> None:
    images = {"agent-runtime": ["linux/amd64"], "web": BOTH}
    with pytest.raises(PreflightError) as caught:
        platforms.require_platforms(Path("/repo/release.toml"), BOTH, images)
    message = str(caught.value)
    assert "/repo/release.toml asks for images of linux/amd64, linux/arm64" in message
    assert "agent-runtime has linux/amd64:" in message
    assert "web" not in message.split(":")[0]
    assert "cannot build linux/arm64" in message
    assert "scripts/setup.sh --with docker" in message
    assert "narrow `platforms` in [release] of release.toml" in message


@pytest.mark.parametrize(
    ("found", "match"),
    [
        ([], "agent-runtime has no platform"),
        (["linux/amd64", "linux/arm64"], "built for other platforms"),
    ],
)
def test_another_platform_set_is_refused(found: list[str], match: str) -> None:
    images = {"agent-runtime": found}
    with pytest.raises(PreflightError, match=match):
        platforms.require_platforms(Path("release.toml"), ("linux/amd64",), images)
