"""Which cluster, namespace and values an environment deploys with; Helm 4 or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.core import doctor
from releasekit.core.errors import ManifestError, ToolMissingError
from releasekit.deploy import cluster, kube_env
from releasekit.publish import charts
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("name", "values", "namespace", "local"),
    [
        ("cluster", "dev", "ironcage-cluster", True),
        ("dev", "dev", "ironcage-dev", False),
        ("prod", "prod", "ironcage-prod", False),
    ],
)
def test_environments_of_the_manifest(name: str, values: str, namespace: str, local: bool) -> None:
    env = kube_env.resolve(REPO, name)
    assert (env.values, env.namespace, env.local) == (values, namespace, local)
    if local:
        assert env.kube.kubeconfig == cluster.kubeconfig_path(REPO)
        assert env.kube.env() == {
            "KUBECONFIG": str(cluster.kubeconfig_path(REPO)),
            "HELM_KUBECONTEXT": cluster.CONTEXT,
        }


def test_a_real_cluster_is_the_kubeconfig_and_context_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(kube_env.CONTEXT_ENV, "staging-admin")
    env = kube_env.resolve(REPO, "staging")
    assert env.kube.kubeconfig is None
    assert env.kube.env() == {"HELM_KUBECONTEXT": "staging-admin"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[environments.x]\ncompose = true\n',
         r"Environment `x` deploys no charts.*Pass one of those"),
        ('[environments.x]\nhelm = "dev"\ncluster = "kind"\n',
         r"`environments\.x\.cluster` is 'kind'"),
        ('[environments.x]\nhelm = "qa"\n', r"Unknown environment `qa`: the charts know"),
    ],
)  # fmt: skip
def test_bad_environments_are_refused(tmp_path: Path, table: str, message: str) -> None:
    package = tmp_path / "packages" / "p"
    package.mkdir(parents=True)
    (package / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1.0.0"\n')
    (tmp_path / "release.toml").write_text(
        '[[packages]]\nname = "p"\npath = "packages/p"\ndist = "p"\nmodule = "p"\n'
        'artifacts = ["wheel"]\n\n' + table
    )
    with pytest.raises(ManifestError, match=message):
        kube_env.resolve(tmp_path, "x")


@pytest.mark.parametrize(
    ("version", "older"),
    [("v3.16.4", True), ("3.19.0+g1a2b3c", True), ("v4.0.0", False), ("v4.3.2", False)],
)
def test_helm_older_than_4(version: str, older: bool) -> None:
    assert doctor.older_than(version, "4.0.0") is older


def test_helm_3_on_path_is_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho v3.16.4+g7877b45\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(ToolMissingError, match=r"is 3\.16\.4.*older than the 4\.0\.0.*helm/v4"):
        charts.lint(REPO)
