"""The build graph for real: side by side or one at a time, logs, and a failing artifact."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from releasekit.build import checksums
from releasekit.build import runner as builds
from releasekit.core.errors import BuildError

from .conftest import VERSION, git, load

pytestmark = pytest.mark.integration

INVOKE = str(Path(sys.executable).parent / "invoke")
KINDS: tuple[builds.Kind, ...] = ("python", "site")
KEYS = ["wheel:sandbox", "wheel:agent-runtime", "wheel:cli", "site:marketing-site"]


def _break_cli(root: Path) -> None:
    """Give the cli package a pyproject.toml its build backend refuses (no such readme)."""
    pyproject = root / "packages" / "cli" / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('readme = "README.md"', 'readme = "MISSING.md"', 1)
    )
    git(root, "commit", "-qam", "break the cli package")


@pytest.mark.parametrize("jobs", [1, 2])
def test_jobs_give_the_same_artifacts(make_ws: Callable[[], Path], jobs: int) -> None:
    reference = make_ws()
    builds.build(load(reference), KINDS, jobs=1)
    root = make_ws()
    built = builds.build(load(root), KINDS, jobs=jobs)
    assert [o.key for o in built.outcomes] == KEYS
    assert {o.status for o in built.outcomes} == {"built"}
    folder = f"dist/{VERSION}/{checksums.FILENAME}"
    assert (root / folder).read_text() == (reference / folder).read_text()
    for key in KEYS:
        log = root / "build" / "logs" / f"{key.replace(':', '-')}.log"
        assert f"{key} built" in log.read_text()


def test_noop_build_reports_every_artifact_cached(make_ws: Callable[[], Path]) -> None:
    root = make_ws()
    builds.build(load(root), KINDS, jobs=2)
    again = builds.build(load(root), KINDS, jobs=2)
    assert {o.key: o.status for o in again.outcomes} == dict.fromkeys(KEYS, "up to date")
    assert again.checksums.status == "up to date"


def test_failing_artifact_stops_the_build_with_its_log(make_ws: Callable[[], Path]) -> None:
    root = make_ws()
    _break_cli(root)
    with pytest.raises(BuildError, match=r"Building wheel:cli failed") as info:
        builds.build(load(root), KINDS, jobs=2)
    error = info.value
    assert error.artifact == "wheel:cli"
    assert error.log == "build/logs/wheel-cli.log"
    assert error.exit_code == 5
    log = (root / error.log).read_text()
    assert "MISSING.md" in log
    assert "\nerror: Command `" in log
    assert "Full log: build/logs/wheel-cli.log" in str(error)
    assert not (root / "dist" / VERSION / checksums.FILENAME).exists()


def test_invoke_build_reports_the_failed_artifact(make_ws: Callable[[], Path]) -> None:
    root = make_ws()
    _break_cli(root)
    result = subprocess.run(
        [INVOKE, "build.python", "--jobs", "2"], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 5, result.stderr
    assert "wheel:cli failed" in result.stderr
    assert "Building wheel:cli failed" in result.stderr
    assert "build/logs/wheel-cli.log" in result.stderr


def test_verbose_prints_every_log_line(make_ws: Callable[[], Path]) -> None:
    root = make_ws()
    result = subprocess.run(
        [INVOKE, "build.site", "--verbose", "--jobs", "1"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "site:marketing-site | $ " in result.stderr
    assert "site:marketing-site built in" in result.stderr


def test_a_release_of_some_packages_builds_only_theirs_at_their_versions(
    make_ws: Callable[[], Path],
) -> None:
    from releasekit.core import version

    root = make_ws()
    manifest = root / "release.toml"
    manifest.write_text(
        manifest.read_text().replace('policy = "lockstep"', 'policy = "independent"')
    )
    new = {"cli": "9.9.1", "marketing-site": "9.9.2"}
    version.apply(load(root), [version.Bump(p, VERSION, v) for p, v in new.items()])
    git(root, "commit", "-qam", "chore(release): cli-v9.9.1, marketing-site-v9.9.2")
    folder = root / "dist" / "cli-9.9.1+marketing-site-9.9.2"
    built = builds.build(load(root), KINDS, versions=new, folder=folder, jobs=2)
    assert built.version == folder.name
    assert [o.key for o in built.outcomes] == ["wheel:sandbox", "wheel:cli", "site:marketing-site"]
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        checksums.FILENAME,
        "python/ironcage_cli-9.9.1-py3-none-any.whl",
        "python/ironcage_cli-9.9.1.tar.gz",
        "sbom/ironcage-cli-9.9.1.cdx.json",
        "site/marketing-site-9.9.2.tar.gz",
    ]
    # sandbox, not released, is built at its own version beside the release to install cli
    (sandbox,) = [o for o in built.outcomes if o.key == "wheel:sandbox"]
    assert all(not p.is_relative_to(folder) for p in sandbox.outputs)
    assert any(p.name == f"ironcage_sandbox-{VERSION}-py3-none-any.whl" for p in sandbox.outputs)
    assert not (root / "dist" / VERSION).exists()
