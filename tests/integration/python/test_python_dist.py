"""sdists and wheels for real: build, twine check, smoke venv, SBOM, upload to pypiserver."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from releasekit.build import artifacts
from releasekit.build import python as python_dist
from releasekit.build.cache import Cache
from releasekit.core.errors import ConflictError, PublishError
from releasekit.core.files import file_sha256
from releasekit.deploy import testbed
from releasekit.publish import index as index_upload

from .conftest import VERSION, git, load

pytestmark = pytest.mark.integration


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: file_sha256(p) for p in sorted(folder.iterdir())}


def test_two_builds_of_one_commit_are_byte_identical(built_ws: Path, tmp_path: Path) -> None:
    ws = load(built_ws)
    epoch = artifacts.source_date_epoch(ws.root)
    for name in ("sandbox", "cli"):
        first = python_dist.build_dists(ws.get(name), tmp_path / name / "a", epoch=epoch)
        second = python_dist.build_dists(ws.get(name), tmp_path / name / "b", epoch=epoch)
        assert [p.name for p in first] == [p.name for p in second]
        assert {p.suffix for p in first} == {".whl", ".gz"}
        assert _digests(tmp_path / name / "a") == _digests(tmp_path / name / "b")
        python_dist.twine_check(first)


@pytest.fixture(scope="module")
def outcomes(built_ws: Path) -> list[artifacts.Outcome]:
    return python_dist.build_all(load(built_ws), VERSION)


def test_build_all_writes_dists_and_sboms(built_ws: Path, outcomes) -> None:
    assert [(o.key, o.status) for o in outcomes] == [
        ("wheel:sandbox", "built"),
        ("wheel:agent-runtime", "built"),
        ("wheel:cli", "built"),
    ]
    dist = built_ws / "dist" / VERSION
    assert sorted(p.name for p in (dist / "python").iterdir()) == [
        f"ironcage_agent_runtime-{VERSION}-py3-none-any.whl",
        f"ironcage_agent_runtime-{VERSION}.tar.gz",
        f"ironcage_cli-{VERSION}-py3-none-any.whl",
        f"ironcage_cli-{VERSION}.tar.gz",
        f"ironcage_sandbox-{VERSION}-py3-none-any.whl",
        f"ironcage_sandbox-{VERSION}.tar.gz",
    ]
    assert sorted(p.name for p in (dist / "sbom").iterdir()) == [
        f"ironcage-agent-runtime-{VERSION}.cdx.json",
        f"ironcage-cli-{VERSION}.cdx.json",
        f"ironcage-sandbox-{VERSION}.cdx.json",
    ]


def test_sbom_is_valid_cyclonedx_with_wheel_digests(built_ws: Path, outcomes) -> None:
    dist = built_ws / "dist" / VERSION
    text = (dist / "sbom" / f"ironcage-cli-{VERSION}.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    bom = json.loads(text)
    assert bom["metadata"]["component"]["purl"] == f"pkg:pypi/ironcage-cli@{VERSION}"
    assert bom["metadata"]["component"]["hashes"][0]["content"] == file_sha256(
        dist / "python" / f"ironcage_cli-{VERSION}-py3-none-any.whl"
    )
    (sandbox_component,) = bom["components"]
    assert sandbox_component["purl"] == f"pkg:pypi/ironcage-sandbox@{VERSION}"
    assert sandbox_component["hashes"][0]["content"] == file_sha256(
        dist / "python" / f"ironcage_sandbox-{VERSION}-py3-none-any.whl"
    )


def test_second_build_is_up_to_date_and_force_rebuilds_identically(
    built_ws: Path, outcomes
) -> None:
    ws = load(built_ws)
    before = _digests(built_ws / "dist" / VERSION / "python")
    again = python_dist.build_all(ws, VERSION, packages=["cli"])
    assert [(o.key, o.status) for o in again] == [
        ("wheel:sandbox", "up to date"),
        ("wheel:cli", "up to date"),
    ]
    forced = python_dist.build_all(ws, VERSION, force=True)
    assert {o.status for o in forced} == {"built"}
    assert _digests(built_ws / "dist" / VERSION / "python") == before


def test_change_in_dependency_rebuilds_dependents(make_ws: Callable[[], Path]) -> None:
    root = make_ws()
    ws = load(root)
    python_dist.build_all(ws, VERSION)
    core = root / "packages/sandbox/src/ironcage_sandbox/_core.py"
    core.write_text(core.read_text() + "\n# changed\n")
    again = python_dist.build_all(ws, VERSION)
    assert {o.key: o.status for o in again} == {
        "wheel:sandbox": "built",
        "wheel:agent-runtime": "built",
        "wheel:cli": "built",
    }


def test_smoke_venv_runs_console_script(built_ws: Path, outcomes, tmp_path: Path) -> None:
    ws = load(built_ws)
    python = python_dist.smoke_test(
        ws.get("cli"),
        built_ws / "dist" / VERSION / "python" / f"ironcage_cli-{VERSION}-py3-none-any.whl",
        [built_ws / "dist" / VERSION / "python"],
        tmp_path / "venv",
        VERSION,
    )
    out = subprocess.run(
        [python.parent / "ironcage", "version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"ironcage {VERSION}"


def test_smoke_test_refuses_wrong_version(built_ws: Path, outcomes, tmp_path: Path) -> None:
    ws = load(built_ws)
    with pytest.raises(PublishError, match=r"expected '9\.9\.9'"):
        python_dist.smoke_test(
            ws.get("sandbox"),
            built_ws / "dist" / VERSION / "python" / f"ironcage_sandbox-{VERSION}-py3-none-any.whl",
            [built_ws / "dist" / VERSION / "python"],
            tmp_path / "venv",
            "9.9.9",
        )


BROKEN_README = "Title\n=====\n\nSome *unclosed emphasis in reStructuredText.\n"


def test_broken_readme_fails_twine_check_before_anything_else(
    make_ws: Callable[[], Path],
) -> None:
    root = make_ws()
    pkg = root / "packages" / "sandbox"
    (pkg / "README.rst").write_text(BROKEN_README)
    (pkg / "README.md").unlink()
    pyproject = pkg / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"README.md"', '"README.rst"'))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "docs: rst readme")
    with pytest.raises(PublishError, match=r"twine check --strict.*ironcage_sandbox") as info:
        python_dist.build_all(load(root), VERSION)
    assert "Inline emphasis start-string without end-string" in str(info.value)
    assert not (root / "dist").exists()
    assert not (root / "build" / "python" / VERSION / "venvs").exists()
    assert Cache(root).get("wheel:sandbox") is None


# Uploads: a probe project with a unique name, so the shared index never sees one file
# name with two contents from different tests.


def _probe(tmp_path: Path, body: str = "") -> tuple[str, list[Path]]:
    name = f"releasekit-probe-{uuid.uuid4().hex[:10]}"
    return name, _build_probe(tmp_path / "a", name, body)


def _build_probe(folder: Path, name: str, body: str) -> list[Path]:
    module = name.replace("-", "_")
    (folder / "src" / module).mkdir(parents=True)
    (folder / "src" / module / "__init__.py").write_text(f'__version__ = "1.0.0"\n{body}')
    (folder / "README.md").write_text(f"# {name}\n\nA probe.\n")
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        f'[project]\nname = "{name}"\nversion = "1.0.0"\nreadme = "README.md"\n'
        'description = "probe"\n'
        f'[tool.hatch.build.targets.wheel]\npackages = ["src/{module}"]\n'
    )
    out = folder / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", out, folder],
        check=True,
        capture_output=True,
        env={"SOURCE_DATE_EPOCH": "1700000000", "PATH": "/usr/bin:/bin"},
    )
    return sorted(out.iterdir())


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("PROBE_INDEX_USER", "ci")
    monkeypatch.setenv("PROBE_INDEX_PASSWORD", "pypi-test-password")
    return {"username_env": "PROBE_INDEX_USER", "password_env": "PROBE_INDEX_PASSWORD"}


def test_upload_then_install_back(pypi: testbed.Service, credentials, tmp_path: Path) -> None:
    name, files = _probe(tmp_path)
    results = index_upload.upload(files, pypi.url, **credentials)
    assert [(r.path, r.status) for r in results] == [(f, "uploaded") for f in files]

    down = tmp_path / "down"
    index = ["--no-cache-dir", "--index-url", f"{pypi.url}/simple/"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            *index,
            "-d",
            down,
            f"{name}==1.0.0",
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = [f for f in files if f.suffix == ".whl"]
    assert file_sha256(down / wheel.name) == file_sha256(wheel)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin/python"]
    subprocess.run(
        [*pip, "install", "-q", *index, f"{name}==1.0.0"],
        check=True,
        capture_output=True,
    )
    module = name.replace("-", "_")
    out = subprocess.run(
        [venv / "bin/python", "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "1.0.0"

    again = index_upload.upload(files, pypi.url, **credentials)
    assert [r.status for r in again] == ["skipped", "skipped"]


def test_upload_refuses_different_content_under_same_name(
    pypi: testbed.Service, credentials, tmp_path: Path
) -> None:
    name, files = _probe(tmp_path)
    index_upload.upload(files, pypi.url, **credentials)
    other = _build_probe(tmp_path / "b", name, "CHANGED = True\n")
    (wheel,) = [f for f in other if f.suffix == ".whl"]
    (original,) = [f for f in files if f.suffix == ".whl"]
    assert wheel.name == original.name
    with pytest.raises(ConflictError, match=file_sha256(original)) as info:
        index_upload.upload([wheel], pypi.url, **credentials)
    assert file_sha256(wheel) in str(info.value)
    assert wheel.name in str(info.value)


def test_upload_with_wrong_password_fails_without_leaking_it(
    pypi: testbed.Service, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, files = _probe(tmp_path)
    monkeypatch.setenv("TWINE_USERNAME", "ci")
    monkeypatch.setenv("TWINE_PASSWORD", "wrong-password-1234")
    with pytest.raises(Exception, match="twine") as info:
        index_upload.upload(files, pypi.url)
    assert "wrong-password-1234" not in str(info.value)
