"""releasekit.publish.charts without helm: argv builders, environments, charts, schema checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from releasekit.core.errors import ManifestError, ToolMissingError
from releasekit.publish import charts


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository holding one chart, control-panel 1.2.3, with values per environment."""
    chart = tmp_path / "helm" / "control-panel"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        'apiVersion: v2\nname: control-panel\nversion: 1.2.3\nappVersion: "1.2.3"\n'
    )
    (chart / "values.yaml").write_text("{}\n")
    for env in charts.ENVIRONMENTS:
        (chart / f"values-{env}.yaml").write_text("{}\n")
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            charts.lint_argv(Path("helm/app"), Path("helm/app/values-dev.yaml")),
            ["helm", "lint", "--strict", "helm/app", "-f", "helm/app/values-dev.yaml"],
        ),
        (
            charts.template_argv("app", Path("helm/app"), "ns", Path("v.yaml"), ["a=b"]),
            [
                "helm", "template", "app", "helm/app", "--namespace", "ns",
                "--kube-version", charts.KUBERNETES_VERSION, "-f", "v.yaml", "--set", "a=b",
            ],
        ),
        (
            charts.package_argv(Path("helm/app"), "1.2.3", Path("dist/1.2.3/charts")),
            [
                "helm", "package", "helm/app", "--version", "1.2.3", "--app-version", "1.2.3",
                "--destination", "dist/1.2.3/charts",
            ],
        ),
        (
            charts.push_argv(Path("app-1.2.3.tgz"), "127.0.0.1:5000"),
            ["helm", "push", "app-1.2.3.tgz", "oci://127.0.0.1:5000/charts", "--plain-http"],
        ),
        (
            charts.push_argv(Path("app-1.2.3.tgz"), "oci://ghcr.io/ironcage/charts"),
            ["helm", "push", "app-1.2.3.tgz", "oci://ghcr.io/ironcage/charts"],
        ),
        (
            charts.pull_argv("localhost:5000", "app", "1.2.3", Path("/tmp/x")),
            [
                "helm", "pull", "oci://localhost:5000/charts/app", "--version", "1.2.3",
                "--destination", "/tmp/x", "--plain-http",
            ],
        ),
    ],
)  # fmt: skip
def test_argv_builders(argv: list[str], expected: list[str]) -> None:
    assert argv == expected


@pytest.mark.parametrize(
    ("registry", "plain", "repo"),
    [
        ("127.0.0.1:5000", True, "oci://127.0.0.1:5000/charts"),
        ("localhost:5000/", True, "oci://localhost:5000/charts"),
        ("oci://127.0.0.1:5000/team/charts", True, "oci://127.0.0.1:5000/team/charts"),
        ("ghcr.io", False, "oci://ghcr.io/charts"),
        ("registry.example.com:443", False, "oci://registry.example.com:443/charts"),
    ],
)
def test_registry_naming(registry: str, plain: bool, repo: str) -> None:
    assert charts.plain_http(registry) is plain
    assert charts.chart_repo(registry) == repo


@pytest.mark.parametrize("env", charts.ENVIRONMENTS)
def test_known_environments(env: str) -> None:
    assert charts.check_env(env) == env


@pytest.mark.parametrize("env", ["qa", "Prod", "", "local"])
def test_unknown_environment_lists_the_known_ones(env: str) -> None:
    with pytest.raises(ManifestError, match=rf"Unknown environment `{env}`.*dev, staging, prod"):
        charts.check_env(env)


def test_find_charts(root: Path) -> None:
    (found,) = charts.find_charts(root)
    assert (found.name, found.path, found.version) == (
        "control-panel",
        Path("helm/control-panel"),
        "1.2.3",
    )
    assert found.values("prod") == Path("helm/control-panel/values-prod.yaml")
    with pytest.raises(ManifestError, match=r"Unknown chart `nope`.*holds control-panel"):
        charts.find_charts(root, "nope")


def _rendered(*docs: dict[str, object]) -> charts.Rendered:
    return charts.Rendered("demo", "dev", tuple(docs), "")


def test_validate_accepts_a_valid_manifest() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "demo"},
        "spec": {"ports": [{"port": 80}]},
    }
    assert charts.validate(_rendered(service)) == []


def test_validate_reports_chart_env_kind_name_and_error() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "demo-api"},
        "spec": {
            "replicas": "two",
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}},
        },
    }
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    found = charts.validate(_rendered(deployment, unknown))
    assert [(f.chart, f.env, f.kind, f.name) for f in found] == [
        ("demo", "dev", "Deployment", "demo-api"),
        ("demo", "dev", "Widget", "w"),
    ]
    assert "spec.replicas" in found[0].error and "'two' is not of type 'integer'" in found[0].error
    assert str(found[0]).startswith("demo (dev): Deployment/demo-api: spec.replicas:")
    assert "Couldn't find schema for kind Widget" in found[1].error


def test_missing_helm_names_the_install_hint(
    root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("sys.executable", str(tmp_path / "empty" / "python"))
    with pytest.raises(ToolMissingError, match=r"`helm` is not installed.*go install helm\.sh"):
        charts.lint(root)


def test_the_security_session_renders_for_the_same_kubernetes_version() -> None:
    noxfile = (Path(__file__).resolve().parents[2] / "noxfile.py").read_text()
    assert f'KUBERNETES_VERSION = "{charts.KUBERNETES_VERSION}"' in noxfile


REPO_HELM = Path(__file__).resolve().parents[2] / "helm"


def _leaves(values: object, prefix: str = "") -> list[str]:
    if isinstance(values, dict) and values:
        return [p for k, v in values.items() for p in _leaves(v, f"{prefix}{k}.")]
    return [prefix.rstrip(".")]


def _objects(schema: object, where: str = "$") -> list[tuple[str, dict[str, object]]]:
    found: list[tuple[str, dict[str, object]]] = []
    if isinstance(schema, dict):
        if "properties" in schema:
            found.append((where, schema))
        for key, value in schema.items():
            found += _objects(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += _objects(value, f"{where}[{index}]")
    return found


@pytest.mark.parametrize("chart", ["agent-runtime", "control-panel"])
def test_every_value_is_documented_and_the_schema_is_strict(chart: str) -> None:
    text = (REPO_HELM / chart / "values.yaml").read_text()
    documented = set(re.findall(r"^## @param (\S+) ", text, re.MULTILINE))
    leaves = _leaves(yaml.safe_load(text))
    assert sorted(set(leaves) - documented) == []
    assert sorted(documented - set(leaves)) == []
    schema = json.loads((REPO_HELM / chart / "values.schema.json").read_text())
    loose = [
        where for where, obj in _objects(schema) if obj.get("additionalProperties") is not False
    ]
    assert loose == []


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        (
            "oci://ghcr.io/ironcage/charts",
            ["helm", "registry", "login", "ghcr.io", "--username", "bot", "--password-stdin"],
        ),
        (
            "127.0.0.1:5555",
            [
                "helm",
                "registry",
                "login",
                "127.0.0.1:5555",
                "--username",
                "bot",
                "--password-stdin",
                "--plain-http",
            ],
        ),
    ],
)
def test_login_argv_keeps_the_password_out(registry: str, expected: list[str]) -> None:
    assert charts.login_argv(registry, "bot") == expected
