"""The deploy job's kubeconfig: the cluster its terraform state names, in the job's region."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from releasekit.core.errors import PreflightError
from releasekit.deploy import eks
from releasekit.deploy import terraform as infra
from tests.conftest import REPO, require

pytestmark = pytest.mark.integration

LOCAL = Path("terraform/environments/local")


def test_the_argv_names_the_cluster_and_the_region() -> None:
    assert eks.kubeconfig_argv("ironcage-prod", "eu-west-1") == [
        "aws", "eks", "update-kubeconfig", "--name", "ironcage-prod", "--region", "eu-west-1",
    ]  # fmt: skip
    assert eks.kubeconfig_argv("c", "r", Path("k"))[-2:] == ["--kubeconfig", "k"]


def test_the_region_comes_from_the_flag_or_the_credentials_step() -> None:
    assert eks.region("us-east-2", {"AWS_REGION": "eu-west-1"}) == "us-east-2"
    assert eks.region(None, {"AWS_REGION": "eu-west-1"}) == "eu-west-1"
    assert eks.region(None, {"AWS_DEFAULT_REGION": "eu-central-1"}) == "eu-central-1"
    with pytest.raises(PreflightError, match="No AWS region"):
        eks.region(None, {})


def test_an_environment_whose_state_names_no_cluster_is_refused(tmp_path: Path) -> None:
    require("terraform")
    shutil.copytree(
        REPO / "terraform",
        tmp_path / "terraform",
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"),
    )
    with pytest.raises(PreflightError, match=r"no `cluster_name` output .* tf\.apply --env local"):
        eks.write_kubeconfig(LOCAL, "local", tmp_path, "eu-west-1")
    assert infra.module_dir(tmp_path, "local") == LOCAL
