"""releasekit.deploy.terraform without terraform: argv builders, environments, drift, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.core.errors import ManifestError, PreflightError
from releasekit.deploy import terraform as infra

M = Path("terraform/environments/local")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (infra.fmt_argv(Path("terraform")),
         ["terraform", "fmt", "-recursive", "-no-color", "-check", "terraform"]),
        (infra.fmt_argv(Path("terraform"), fix=True),
         ["terraform", "fmt", "-recursive", "-no-color", "terraform"]),
        (infra.init_argv(M),
         ["terraform", f"-chdir={M}", "init", "-input=false", "-no-color"]),
        (infra.init_argv(M, backend=False),
         ["terraform", f"-chdir={M}", "init", "-input=false", "-no-color", "-backend=false"]),
        (infra.validate_argv(M), ["terraform", f"-chdir={M}", "validate", "-no-color"]),
        (infra.plan_argv(M, Path("/b/local.tfplan")),
         ["terraform", f"-chdir={M}", "plan", "-input=false", "-no-color",
          "-out=/b/local.tfplan"]),
        (infra.plan_argv(M, Path("/b/local.tfplan"), (Path("/b/i.tfvars.json"),)),
         ["terraform", f"-chdir={M}", "plan", "-input=false", "-no-color",
          "-var-file=/b/i.tfvars.json", "-out=/b/local.tfplan"]),
        (infra.apply_argv(M, Path("/b/local.tfplan")),
         ["terraform", f"-chdir={M}", "apply", "-input=false", "-no-color", "/b/local.tfplan"]),
        (infra.output_argv(M), ["terraform", f"-chdir={M}", "output", "-json", "-no-color"]),
        (infra.drift_argv(M),
         ["terraform", f"-chdir={M}", "plan", "-detailed-exitcode", "-input=false", "-json"]),
    ],
)  # fmt: skip
def test_argv_builders(argv: list[str], expected: list[str]) -> None:
    assert argv == expected


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for env in ("local", "dev", "prod"):
        folder = tmp_path / "terraform" / "environments" / env
        folder.mkdir(parents=True)
        (folder / "main.tf").write_text("")
    (tmp_path / "terraform" / "environments" / "notes").mkdir()
    return tmp_path


def test_environments_are_the_root_modules(root: Path) -> None:
    assert infra.environments(root) == ["dev", "local", "prod"]
    assert infra.module_dir(root, "dev") == Path("terraform/environments/dev")
    assert infra.plan_paths("dev") == (
        Path("build/terraform/dev.tfplan"),
        Path("build/terraform/dev.plan.json"),
    )


@pytest.mark.parametrize("env", ["staging", "notes", "qa"])
def test_unknown_environment_lists_the_known_ones(root: Path, env: str) -> None:
    with pytest.raises(ManifestError, match=rf"Unknown environment `{env}`.*dev, local, prod"):
        infra.module_dir(root, env)


@pytest.mark.parametrize(
    ("drift", "words"),
    [
        (infra.Drift(True), "in sync: the infrastructure matches the configuration"),
        (infra.Drift(False, 1, 2, 3), "drifted: 1 to add, 2 to change, 3 to destroy"),
        (infra.Drift(False), "drifted: 0 to add, 0 to change, 0 to destroy (only outputs differ)"),
    ],
)
def test_drift_in_words(drift: infra.Drift, words: str) -> None:
    assert str(drift) == words


def test_apply_refuses_a_missing_plan(root: Path) -> None:
    saved, _ = infra.plan_paths("local")
    with pytest.raises(
        PreflightError, match=r"No saved plan for `local`.*invoke tf\.plan --env local"
    ):
        infra.apply(M, "local", root, saved)


def test_images_var_file_needs_the_images_json(root: Path) -> None:
    with pytest.raises(PreflightError, match=r"dist/9\.9\.9/images\.json does not exist"):
        infra.images_var_file(root, "local", Path("dist/9.9.9/images.json"))
