"""GitOps environments of release.toml, their desired-state files, and bad input refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from releasekit.core.errors import ManifestError, PreflightError
from releasekit.deploy import cluster, gitops_env, gitops_layout
from tests.conftest import REPO

DIGEST = "sha256:" + "a" * 64


def _root(tmp_path: Path, table: str) -> Path:
    """A copy of the manifest and charts whose [environments.dev] is ``table``."""
    text = (REPO / "release.toml").read_text(encoding="utf-8")
    head = text[: text.index("[environments.dev]")]
    (tmp_path / "release.toml").write_text(head + "[environments.dev]\n" + table)
    shutil.copytree(REPO / "helm", tmp_path / "helm")
    for folder in ("packages", "docker", "terraform"):
        (tmp_path / folder).symlink_to(REPO / folder)
    return tmp_path


def test_the_manifests_environments_are_the_sandboxs_gitops_repository() -> None:
    for name in ("dev", "staging", "prod"):
        env = gitops_env.resolve(REPO, name)
        assert (env.sandbox, env.branch, env.path) == (True, "main", f"clusters/{name}")
        assert (env.namespace, env.values, env.flux_name) == (
            f"ironcage-{name}",
            name,
            f"ironcage-{name}",
        )
        assert env.kube.kubeconfig == cluster.kubeconfig_path(REPO)


def test_a_real_repository_pushes_with_the_token_of_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, 'deploy = "gitops"\nrepository = "https://github.com/o/envs.git"\n'
                 'token_env = "ENVS_TOKEN"\nbranch = "live"\n')  # fmt: skip
    env = gitops_env.resolve(root, "dev")
    assert (env.local_root, env.kube.kubeconfig, env.branch) == (None, None, "live")
    monkeypatch.delenv("ENVS_TOKEN", raising=False)
    with pytest.raises(PreflightError, match="ENVS_TOKEN, which is not set"):
        env.token()
    monkeypatch.setenv("ENVS_TOKEN", "t0ken-value")
    assert env.token() == "t0ken-value"


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ('deploy = "argo"\nrepository = "sandbox"\n', r"environments.dev.deploy` is 'argo'"),
        ('deploy = "gitops"\n', r"environments.dev.repository` is ''"),
        ('deploy = "gitops"\nrepository = "file:///srv/envs.git"\n', "file:// is refused"),
        ('deploy = "gitops"\nrepository = "sandbox"\npath = "../etc"\n', "relative folder"),
        ('deploy = "gitops"\nrepository = "sandbox"\nbranch = "-x"\n', "git branch name"),
        ('deploy = "gitops"\nrepository = "sandbox"\nflux = "remote"\n', "only value is 'local'"),
        ('deploy = "gitops"\nrepository = "sandbox"\nhelm = "qa"\n', "Unknown environment `qa`"),
        ('deploy = "gitops"\nrepository = "sandbox"\ntoken_env = "T"\n', "https repositories"),
        ('deploy = "gitops"\nrepository = "sandbox"\nrepo = "x"\n', "allowed keys"),
        ('deploy = "gitops"\nrepository = "sandbox"\ntimeout = "soon"\n', "duration such as"),
        ('deploy = "gitops"\nrepository = "sandbox"\nreconcile = "0s"\n', "30s or 5m"),
    ],
)
def test_bad_environments_are_refused_naming_the_key(
    tmp_path: Path, table: str, match: str
) -> None:
    root = _root(tmp_path, table)
    with pytest.raises(ManifestError, match=match) as caught:
        gitops_env.resolve(root, "dev")
    assert str(root / "release.toml") in str(caught.value) or "Unknown environment" in match


def test_an_environment_without_gitops_is_named_with_the_known_ones() -> None:
    with pytest.raises(ManifestError, match=r"not deployed by GitOps.*dev, prod, staging"):
        gitops_env.resolve(REPO, "cluster")


def test_the_desired_state_pins_every_digest_and_reads_back() -> None:
    env = gitops_env.resolve(REPO, "staging")
    pins = tuple(
        gitops_layout.ChartPin(
            name, f"oci://127.0.0.1:5555/charts/{name}", "1.2.0-rc.1", DIGEST,
            ("image.registry=127.0.0.1:5555", f"{key}.image.digest={DIGEST}"),
        )
        for name, key in (("agent-runtime", "worker"), ("control-panel", "api"))
    )  # fmt: skip
    desired = gitops_layout.Desired("1.2.0-rc.1", pins)
    files = gitops_layout.render(REPO, env, desired, "-----BEGIN PUBLIC KEY-----\nx\n")
    assert gitops_layout.read(files[gitops_layout.DESIRED_FILE]) == desired
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert sorted(kustomization["resources"]) == sorted(
        f for f in files if f.endswith(".yaml") and f != "kustomization.yaml"
    )
    source, release = yaml.safe_load_all(files["control-panel.yaml"])
    assert source["spec"]["ref"] == {"tag": "1.2.0-rc.1", "digest": DIGEST}
    assert source["spec"]["insecure"] is True
    assert source["spec"]["verify"]["secretRef"]["name"] == gitops_layout.KEY_SECRET
    assert release["metadata"]["namespace"] == "ironcage-staging"
    assert release["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "control-panel"}
    assert release["spec"]["driftDetection"]["mode"] == "enabled"
    assert release["spec"]["upgrade"]["remediation"]["strategy"] == "rollback"
    assert release["spec"]["values"]["api"]["image"]["digest"] == DIGEST
    staging = yaml.safe_load((REPO / "helm/control-panel/values-staging.yaml").read_text())
    for key, value in staging.items():
        if not isinstance(value, dict):
            assert release["spec"]["values"][key] == value
    assert json.loads(files[gitops_layout.DESIRED_FILE])["version"] == "1.2.0-rc.1"


def test_reconcile_sets_how_often_helm_controller_puts_drift_back(tmp_path: Path) -> None:
    root = _root(tmp_path, 'deploy = "gitops"\nrepository = "sandbox"\nreconcile = "15s"\n')
    env = gitops_env.resolve(root, "dev")
    assert env.reconcile == "15s"
    assert gitops_env.resolve(REPO, "staging").reconcile == "1m"


def test_the_release_preflight_refuses_a_bad_gitops_environment(tmp_path: Path) -> None:
    """Before anything is built or published, not at the deploy step."""
    from releasekit.core import manifest, workspace
    from releasekit.release import preflight

    root = _root(tmp_path, 'deploy = "gitops"\nrepository = "sandbox"\nreconcile = "soon"\n')
    ws = workspace.load(manifest.load(root))
    with pytest.raises(ManifestError, match=r"environments.dev.reconcile` is 'soon'.*30s or 5m"):
        preflight.environment(ws, "dev")
    assert preflight.environment(ws, "pilot") == ws.manifest.environments["pilot"]
