"""releasekit.infra without terraform: argv builders, environments, static checks, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from releasekit import infra
from releasekit.errors import ManifestError, PreflightError

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


def _findings(tmp_path: Path, files: dict[str, str]) -> list[str]:
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        paths.append(path)
    return [str(f) for f in infra.static_findings(paths, tmp_path)]


GOOD = """\
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
    terraform = {
      source = "terraform.io/builtin/terraform"
    }
  }
}

variable "name" {
  description = "Name (its type is below)."
  type        = string
}

variable "settings" {
  type = object({
    size = number
  })
  description = "Settings."
  default     = { size = 1 }

  validation {
    condition     = var.settings.size > 0
    error_message = "size must be positive."
  }
}

resource "aws_db_instance" "this" {
  manage_master_user_password = true
  password                    = var.password
  token                       = "${var.prefix}-token"
  # password = "hunter2hunter2" in a comment is no secret
}
"""


def test_clean_configuration_has_no_findings(tmp_path: Path) -> None:
    assert _findings(tmp_path, {"main.tf": GOOD}) == []


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        (
            'variable "region" {\n  type = string\n}\n',
            'main.tf:1: variable "region" has no `description`: add one',
        ),
        (
            '\n\nvariable "region" {\n  description = "Where."\n}\n',
            'main.tf:3: variable "region" has no `type`: add one',
        ),
        (
            'variable "cfg" {\n  description = "x"\n  default = { type = "a" }\n}\n',
            'main.tf:1: variable "cfg" has no `type`: add one',
        ),
        (
            'terraform {\n  required_providers {\n    aws = {\n      source = "hashicorp/aws"\n'
            "    }\n  }\n}\n",
            'main.tf:3: provider `aws` has no version constraint: add version = "~> X.Y" to '
            "required_providers",
        ),
        (
            'resource "x" "y" {\n  master_password = "s3cr3t-value"\n}\n',
            "main.tf:2: `master_password` holds a literal string: pass secrets through a "
            "sensitive variable, a secret store or a generated password "
            "(manage_master_user_password), never in the code",
        ),
    ],
    ids=["no-description", "no-type", "type-only-nested", "unpinned-provider", "literal-secret"],
)
def test_each_finding_names_file_and_line(tmp_path: Path, text: str, finding: str) -> None:
    assert _findings(tmp_path, {"main.tf": text}) == [finding]


def test_literal_secrets_in_tfvars_are_found(tmp_path: Path) -> None:
    found = _findings(
        tmp_path,
        {"terraform.tfvars": 'region = "eu-west-1"\napi_token = "abcd1234"\nSecret = "x"\n'},
    )
    assert [f.split(": ", 1)[0] for f in found] == ["terraform.tfvars:2", "terraform.tfvars:3"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('terraform {\n  required_providers {\n    terraform = {\n      source = '
         '"terraform.io/builtin/terraform"\n    }\n  }\n}\nresource "terraform_data" "a" {}\n',
         True),
        ('resource "terraform_data" "a" {\n  input = 1\n}\n', True),
        ('resource "aws_s3_bucket" "a" {}\n', False),
        ('data "local_file" "a" {}\n', False),
        ('module "n" {\n  source = "../../modules/network"\n}\n', False),
        ('terraform {\n  required_providers {\n    aws = {\n      source = "hashicorp/aws"\n'
         '      version = "~> 5.0"\n    }\n  }\n}\n', False),
    ],
    ids=["builtin", "implicit-builtin", "aws-resource", "local-data", "module", "aws-required"],
)  # fmt: skip
def test_builtin_only(tmp_path: Path, text: str, expected: bool) -> None:
    (tmp_path / "main.tf").write_text(text)
    assert infra.builtin_only(tmp_path) is expected


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
