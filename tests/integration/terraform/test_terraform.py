"""The real terraform: fmt, validate, a real plan and apply of `local`, drift, stale plans.

Every plan and apply runs in a copy of terraform/ under a temporary folder, so the
repository's state and build/ stay untouched.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from releasekit.core.errors import ManifestError, PreflightError, ToolError
from releasekit.deploy import terraform as infra
from tests.conftest import REPO, require

pytestmark = pytest.mark.integration

LOCAL = Path("terraform/environments/local")
DIGEST = "sha256:" + "e" * 64


@pytest.fixture(scope="module", autouse=True)
def terraform() -> str:
    return require("terraform")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A scratch root holding terraform/ as the repository has it, without state or caches."""
    shutil.copytree(
        REPO / "terraform",
        tmp_path / "terraform",
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"),
    )
    return tmp_path


_RELEASE_VERSION = re.compile(r'release_version\s*=\s*"([^"]*)"')


def _version(root: Path) -> str:
    found = _RELEASE_VERSION.search((root / LOCAL / "terraform.tfvars").read_text())
    assert found is not None
    return found.group(1)


def _set_version(root: Path, value: str) -> None:
    tfvars = root / LOCAL / "terraform.tfvars"
    text = tfvars.read_text()
    tfvars.write_text(_RELEASE_VERSION.sub(f'release_version = "{value}"', text))


def _plan(root: Path, var_files: tuple[Path, ...] = ()) -> infra.Plan:
    saved, _ = infra.plan_paths("local")
    return infra.plan(LOCAL, "local", root, saved, var_files)


def _apply(root: Path) -> str:
    return infra.apply(LOCAL, "local", root, infra.plan_paths("local")[0])


def test_every_file_is_formatted() -> None:
    assert infra.fmt(REPO) == []


def test_fmt_reports_and_fixes(copy: Path) -> None:
    main = copy / LOCAL / "main.tf"
    main.write_text(main.read_text().replace("  input = {", "input     =   {", 1))
    assert infra.fmt(copy) == ["terraform/environments/local/main.tf"]
    infra.fmt(copy, fix=True)
    assert infra.fmt(copy) == []


def test_validate_runs_terraform_where_it_can_and_static_checks_everywhere(copy: Path) -> None:
    result = infra.validate(copy)
    assert result.validated == ("local",)
    assert result.static_only == ("dev", "prod", "staging")
    assert result.findings == ()


def test_static_checks_find_problems_in_the_cloud_environments(copy: Path) -> None:
    (copy / "terraform/environments/dev/extra.tf").write_text(
        'variable "db_password" {\n  type = string\n}\n\nlocals {\n  token = "abc123xyz"\n}\n'
    )
    found = [str(f) for f in infra.validate(copy).findings]
    assert found == [
        'terraform/environments/dev/extra.tf:1: variable "db_password" has no `description`: '
        "add one",
        "terraform/environments/dev/extra.tf:6: `token` holds a literal string: pass secrets "
        "through a sensitive variable, a secret store or a generated password "
        "(manage_master_user_password), never in the code",
    ]


def test_plan_apply_output_and_a_second_plan_without_changes(copy: Path) -> None:
    first = _plan(copy)
    assert first.changes
    saved, record = infra.plan_paths("local")
    assert (copy / saved).is_file()
    assert json.loads((copy / record).read_text())["fingerprint"] == first.fingerprint
    assert "terraform_data.release" in _apply(copy)
    assert not (copy / saved).exists()  # a plan is applied once
    outputs = infra.output(LOCAL, copy)
    assert outputs["release_version"] == _version(copy)
    assert outputs["image_digests"] == {}
    assert (copy / LOCAL / "terraform.tfstate").is_file()

    second = _plan(copy)
    assert not second.changes
    assert "No changes." in second.text
    assert infra.drift(LOCAL, "local", copy).in_sync


def test_drift_after_a_tfvar_changes(copy: Path) -> None:
    _plan(copy)
    _apply(copy)
    _set_version(copy, _version(copy) + "-drifted")
    found = infra.drift(LOCAL, "local", copy)
    assert not found.in_sync
    assert str(found) == "drifted: 0 to add, 1 to change, 0 to destroy"


def test_apply_refuses_a_stale_plan(copy: Path) -> None:
    _plan(copy)
    _set_version(copy, "0.3.0")
    with pytest.raises(PreflightError, match=r"is stale.*invoke tf\.plan --env local"):
        _apply(copy)
    assert infra.output(LOCAL, copy) == {}  # nothing was applied


def test_apply_refuses_a_plan_made_before_the_state_changed(copy: Path) -> None:
    _plan(copy)
    saved, record = (copy / p for p in infra.plan_paths("local"))
    kept = saved.read_bytes(), record.read_bytes()
    _apply(copy)
    saved.write_bytes(kept[0])
    record.write_bytes(kept[1])
    with pytest.raises(PreflightError, match=r"is stale"):
        _apply(copy)


def test_apply_refuses_a_missing_plan(copy: Path) -> None:
    with pytest.raises(PreflightError, match=r"No saved plan for `local`"):
        _apply(copy)


def test_image_digests_from_images_json(copy: Path) -> None:
    images = copy / "dist/7.3.1/images.json"
    images.parent.mkdir(parents=True)
    images.write_text(
        json.dumps({"agent-runtime": {"repository": "r/ironcage/agent-runtime", "digest": DIGEST}})
    )
    var_file = infra.images_var_file(copy, "local", Path("dist/7.3.1/images.json"))
    assert _plan(copy, (var_file,)).changes
    _apply(copy)
    assert infra.output(LOCAL, copy)["image_digests"] == {"agent-runtime": DIGEST}
    assert infra.drift(LOCAL, "local", copy, (var_file,)).in_sync
    assert str(infra.drift(LOCAL, "local", copy)) == "drifted: 0 to add, 0 to change, 1 to destroy"


def test_unknown_environment_lists_the_known_ones(copy: Path) -> None:
    with pytest.raises(ManifestError, match=r"`qa`.*dev, local, prod, staging"):
        infra.module_dir(copy, "qa")


def test_cloud_environment_plan_fails_with_terraform_init_message(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    saved, _ = infra.plan_paths("dev")
    with pytest.raises(ToolError, match=r"terraform init` of terraform/environments/dev failed"):
        infra.plan(infra.module_dir(copy, "dev"), "dev", copy, saved)
    assert not (copy / saved).exists()


def test_apply_on_a_fresh_machine_initialises_before_applying_the_saved_plan(
    copy: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    planned = _plan(copy)
    assert planned.changes
    fresh = tmp_path_factory.mktemp("apply-job")
    shutil.copytree(
        REPO / "terraform",
        fresh / "terraform",
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"),
    )
    saved, _ = infra.plan_paths("local")
    shutil.copytree(copy / saved.parent, fresh / saved.parent)
    assert not (fresh / LOCAL / ".terraform").exists()
    assert "terraform_data.release" in _apply(fresh)
    assert (fresh / LOCAL / "terraform.tfstate").is_file()
