"""`invoke build.*` in a throwaway workspace: JSON results, the cache, SHA256SUMS."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from releasekit.build import runner as builds
from tests.conftest import require

from .conftest import VERSION, load

pytestmark = pytest.mark.integration

INVOKE = str(Path(sys.executable).parent / "invoke")


def _invoke(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INVOKE, *args], cwd=root, capture_output=True, text=True, check=False)


def _statuses(stdout: str) -> dict[str, str]:
    data = json.loads(stdout)
    return {row["path"]: row["status"] for row in data["artifacts"]}


def test_build_python_twice_second_up_to_date(make_ws: Callable[[], Path]) -> None:
    root = make_ws()
    first = _invoke(root, "build.python", "--json")
    assert first.returncode == 0, first.stderr
    statuses = _statuses(first.stdout)
    assert statuses[f"dist/{VERSION}/python/ironcage_cli-{VERSION}-py3-none-any.whl"] == "built"
    assert statuses[f"dist/{VERSION}/sbom/ironcage-sandbox-{VERSION}.cdx.json"] == "built"
    second = _invoke(root, "build.python", "--json")
    assert second.returncode == 0, second.stderr
    assert "wheel:cli up to date" in second.stderr
    assert {s for p, s in _statuses(second.stdout).items() if "python/" in p} == {"up to date"}
    forced = _invoke(root, "build.python", "--package", "sandbox", "--force", "--json")
    assert _statuses(forced.stdout) == {
        f"dist/{VERSION}/python/ironcage_sandbox-{VERSION}-py3-none-any.whl": "built",
        f"dist/{VERSION}/python/ironcage_sandbox-{VERSION}.tar.gz": "built",
        f"dist/{VERSION}/sbom/ironcage-sandbox-{VERSION}.cdx.json": "built",
        f"dist/{VERSION}/SHA256SUMS": "up to date",
    }
    table = _invoke(root, "build.python")
    assert "up to date" in table.stdout
    assert f"ironcage_cli-{VERSION}-py3-none-any.whl" in table.stdout


def test_unknown_package_is_a_clear_error(make_ws: Callable[[], Path]) -> None:
    result = _invoke(make_ws(), "build.python", "--package", "nope")
    assert result.returncode == 2
    assert "nope" in result.stderr


def test_package_without_python_artifacts(make_ws: Callable[[], Path]) -> None:
    result = _invoke(make_ws(), "build.python", "--package", "marketing-site")
    assert result.returncode == 2
    assert "none of them sdist or wheel" in result.stderr


def test_engine_build_writes_checksums_over_everything(make_ws: Callable[[], Path]) -> None:
    sha256sum = require("sha256sum")
    root = make_ws()
    built = builds.build(load(root), ("python", "site"))
    assert built.version == f"{VERSION}"
    assert {o.key for o in built.outcomes} == {
        "wheel:sandbox",
        "wheel:agent-runtime",
        "wheel:cli",
        "site:marketing-site",
    }
    folder = root / "dist" / f"{VERSION}"
    check = subprocess.run(
        [sha256sum, "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True, check=True
    )
    assert check.stdout.count(": OK") == 10
