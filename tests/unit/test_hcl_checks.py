"""releasekit.deploy.hcl_checks: static findings, built-in-only root modules, local modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.deploy import hcl_checks


def _findings(tmp_path: Path, files: dict[str, str]) -> list[str]:
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        paths.append(path)
    return [str(f) for f in hcl_checks.static_findings(paths, tmp_path)]


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
    assert hcl_checks.builtin_only(tmp_path) is expected


def test_local_modules_follow_nested_calls(tmp_path: Path) -> None:
    for folder, text in {
        "environments/dev": 'module "platform" {\n  source = "../../modules/platform"\n}\n',
        "modules/platform": 'module "network" {\n  source = "../network"\n}\n'
        '# module "old" { source = "../old" }\n',
        "modules/network": 'module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n',
    }.items():
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "main.tf").write_text(text)
    assert hcl_checks.local_modules(tmp_path / "environments/dev") == [
        (tmp_path / "modules/network").resolve(),
        (tmp_path / "modules/platform").resolve(),
    ]
