"""The workspace lock, checked with the real uv on a copy of this workspace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from releasekit.core import manifest, uvlock, version, workspace
from releasekit.core.errors import ManifestError, VersionError
from tests.conftest import REPO, copy_repo


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")


def _members(root: Path) -> dict[str, str]:
    text = (root / uvlock.LOCK_FILE).read_text(encoding="utf-8")
    pattern = r'(?m)^name = "(ironcage-[a-z-]+)"\nversion = "([^"]+)"\nsource = \{ editable'
    return dict(re.findall(pattern, text))


def test_the_committed_lock_matches_the_workspace(copy: Path) -> None:
    uvlock.check(copy)


def test_a_stale_lock_fails_naming_the_file_and_the_fix(copy: Path) -> None:
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    floor = re.search(r'"invoke>=([0-9.]+)"', text)
    assert floor is not None
    pyproject.write_text(text.replace(floor[0], f'"invoke>={floor[1]}.1"'), encoding="utf-8")
    with pytest.raises(
        ManifestError, match=r"(?s)uv\.lock is stale.*Run `uv lock` at .*commit uv\.lock"
    ):
        uvlock.check(copy)


@pytest.mark.parametrize(
    ("suffix", "pep440_suffix"), [("", ""), ("-dev.1", ".dev1"), ("-rc.2", "rc2")]
)
def test_a_version_bump_keeps_the_lock_fresh(copy: Path, suffix: str, pep440_suffix: str) -> None:
    ws = workspace.load(manifest.load(copy))
    major = int(next(iter(version.current(ws).values())).split(".")[0]) + 1
    bumps = version.plan_bump(ws, to=f"{major}.0.0{suffix}")
    written = version.apply(ws, bumps)
    assert copy / uvlock.LOCK_FILE in written
    members = _members(copy)
    assert sorted(members) == sorted(p.spec.dist for p in ws.packages)
    assert set(members.values()) == {f"{major}.0.0{pep440_suffix}"}, members
    assert version.check(ws) == dict.fromkeys(ws.order(), bumps[0].new)
    uvlock.check(copy)


def test_a_lock_entry_that_drifts_is_named(copy: Path) -> None:
    lock = copy / uvlock.LOCK_FILE
    members = _members(copy)
    old = members["ironcage-cli"]
    text = lock.read_text(encoding="utf-8")
    entry = f'name = "ironcage-cli"\nversion = "{old}"'
    lock.write_text(text.replace(entry, 'name = "ironcage-cli"\nversion = "9.9.9"'))
    with pytest.raises(
        VersionError, match=rf"uv\.lock:\d+ \(lock entry of cli\) holds 9\.9\.9, expected {old}"
    ):
        version.check(workspace.load(manifest.load(copy)))


def test_every_artifact_shaping_tool_is_locked(copy: Path) -> None:
    tools = uvlock.toolchain(copy)
    assert sorted(tools) == sorted(uvlock.TOOLCHAIN)
    assert all(tools.values()), tools
    assert "," not in tools["hatchling"] and "," not in tools["pyinstaller"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"a": "1.0"}, {"a": "1.1"}, [uvlock.Change("a", "1.0", "1.1")]),
        ({"a": "1.0"}, {"a": "1.0", "b": "2.0"}, [uvlock.Change("b", "", "2.0")]),
        ({"a": "1.0", "c": "3"}, {"a": "1.0"}, [uvlock.Change("c", "3", "")]),
        ({"a": "1.0"}, {"a": "1.0"}, []),
    ],
)
def test_diff(old: dict[str, str], new: dict[str, str], expected: list[uvlock.Change]) -> None:
    assert uvlock.diff(old, new) == expected


def test_upgrade_of_an_unknown_package_is_refused(copy: Path) -> None:
    with pytest.raises(ManifestError, match=r"`no-such-dist` is not in .*uv\.lock"):
        uvlock.upgrade(copy, "no-such-dist")


def test_a_build_refuses_tools_other_than_the_locked_ones(tmp_path: Path) -> None:
    from releasekit.build import cache

    text = (REPO / uvlock.LOCK_FILE).read_text(encoding="utf-8")
    installed = cache.toolchain()["hatchling"]
    entry = f'name = "hatchling"\nversion = "{installed}"'
    assert entry in text
    (tmp_path / uvlock.LOCK_FILE).write_text(
        text.replace(entry, 'name = "hatchling"\nversion = "0.0.1"')
    )
    with pytest.raises(
        ManifestError,
        match=rf"(?s)hatchling {re.escape(installed)} \(uv\.lock: 0\.0\.1\).*`uv sync --locked`",
    ):
        cache.check_toolchain(tmp_path)
    cache.check_toolchain(REPO)


def test_a_release_from_a_stale_lock_stops_at_preflight(copy: Path) -> None:
    from releasekit.release import preflight
    from tests.conftest import git

    pyproject = copy / "packages/sandbox/pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("dependencies = []", 'dependencies = ["idna"]')
    )
    git(copy, "init", "-q", "-b", "main")
    git(copy, "add", "-A")
    git(copy, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "feat: x")
    ws = workspace.load(manifest.load(copy))
    with pytest.raises(ManifestError, match=r"(?s)uv\.lock is stale.*commit uv\.lock"):
        preflight.check(ws, "sandbox", "pilot", readonly=True)
