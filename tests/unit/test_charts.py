"""releasekit.charts without helm: argv builders, environments, image pins, schema checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from releasekit import charts
from releasekit.errors import ManifestError, ToolMissingError

DIGEST_A = "sha256:" + "a" * 64
DIGEST_W = "sha256:" + "b" * 64
DIGEST_R = "sha256:" + "c" * 64

VALUES = """\
image:
  registry: ""
api:
  image:
    repository: ironcage/control-panel-api
    tag: ""
    digest: ""
web:
  image:
    repository: ironcage/control-panel-web
    tag: ""
    digest: ""
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository holding one chart, control-panel 1.2.3, with values per environment."""
    chart = tmp_path / "helm" / "control-panel"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        'apiVersion: v2\nname: control-panel\nversion: 1.2.3\nappVersion: "1.2.3"\n'
    )
    (chart / "values.yaml").write_text(VALUES)
    for env in charts.ENVIRONMENTS:
        (chart / f"values-{env}.yaml").write_text("{}\n")
    return tmp_path


def _images_json(root: Path, version: str, data: object) -> Path:
    path = root / "dist" / version / "images.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    return path


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
        (
            charts.upgrade_argv("app", "helm/app", "ironcage-dev", Path("v.yaml"), ["x=1"]),
            [
                "helm", "upgrade", "--install", "app", "helm/app", "--namespace", "ironcage-dev",
                "--create-namespace", "--atomic", "--wait", "--timeout", "5m", "-f", "v.yaml",
                "--set", "x=1",
            ],
        ),
        (
            charts.upgrade_argv(
                "app", "oci://r:1/charts/app", "ns", Path("v.yaml"), [], version="1.2.3",
                dry_run=True, plain=True,
            ),
            [
                "helm", "upgrade", "--install", "app", "oci://r:1/charts/app", "--version",
                "1.2.3", "--namespace", "ns", "--create-namespace", "--atomic", "--wait",
                "--timeout", "5m", "-f", "v.yaml", "--plain-http", "--dry-run=client",
            ],
        ),
        (
            charts.rollback_argv("app", "ironcage-prod"),
            ["helm", "rollback", "app", "--namespace", "ironcage-prod", "--wait"],
        ),
        (
            charts.rollback_argv("app", "ironcage-prod", 4),
            ["helm", "rollback", "app", "4", "--namespace", "ironcage-prod", "--wait"],
        ),
        (
            charts.history_argv("app", "ironcage-prod"),
            ["helm", "history", "app", "--namespace", "ironcage-prod", "-o", "json"],
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


@pytest.mark.parametrize(
    "data",
    [
        {
            "control-panel-api": {
                "repository": "127.0.0.1:5000/ironcage/control-panel-api",
                "tags": ["1.2.3"],
                "digest": DIGEST_A,
            },
            "control-panel-web": {
                "repository": "127.0.0.1:5000/ironcage/control-panel-web",
                "digest": DIGEST_W,
            },
        },
        {
            "images": [
                {
                    "name": "control-panel-api",
                    "repository": "127.0.0.1:5000/ironcage/control-panel-api",
                    "digest": DIGEST_A,
                },
                {
                    "name": "control-panel-web",
                    "repository": "127.0.0.1:5000/ironcage/control-panel-web",
                    "digest": DIGEST_W,
                },
            ]
        },
        {
            "control-panel-api": f"127.0.0.1:5000/ironcage/control-panel-api@{DIGEST_A}",
            "control-panel-web": f"127.0.0.1:5000/ironcage/control-panel-web@{DIGEST_W}",
            "agent-runtime": f"127.0.0.1:5000/ironcage/agent-runtime@{DIGEST_R}",
        },
    ],
    ids=["mapping", "list", "references"],
)
def test_deploy_pins_images_by_digest(root: Path, data: object) -> None:
    _images_json(root, "1.2.3", data)
    (argv,) = charts.deploy_argvs(root, "staging")
    assert argv == [
        "helm", "upgrade", "--install", "control-panel", "helm/control-panel",
        "--namespace", "ironcage-staging", "--create-namespace", "--atomic", "--wait",
        "--timeout", "5m", "-f", "helm/control-panel/values-staging.yaml",
        "--set", "image.registry=127.0.0.1:5000",
        "--set", f"api.image.digest={DIGEST_A}",
        "--set", f"web.image.digest={DIGEST_W}",
    ]  # fmt: skip


def test_deploy_sets_the_repository_when_the_registry_namespace_differs(root: Path) -> None:
    _images_json(
        root,
        "1.2.3",
        {"control-panel-api": {"repository": "ghcr.io/acme/control-panel-api", "digest": DIGEST_A}},
    )
    (argv,) = charts.deploy_argvs(root, "prod", chart_registry="oci://ghcr.io/acme/charts")
    assert argv[3:8] == ["control-panel", "oci://ghcr.io/acme/charts/control-panel", "--version",
                         "1.2.3", "--namespace"]  # fmt: skip
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert sets == [
        "image.registry=ghcr.io",
        f"api.image.digest={DIGEST_A}",
        "api.image.repository=acme/control-panel-api",
    ]
    assert "--plain-http" not in argv


def test_deploy_without_images_json_uses_the_chart_tags(root: Path) -> None:
    (argv,) = charts.deploy_argvs(
        root, "dev", version="1.2.3", image_registry="r.example.com", namespace="team", dry_run=True
    )
    assert argv == [
        "helm", "upgrade", "--install", "control-panel", "helm/control-panel",
        "--namespace", "team", "--create-namespace", "--atomic", "--wait", "--timeout", "5m",
        "-f", "helm/control-panel/values-dev.yaml", "--set", "image.registry=r.example.com",
        "--dry-run=client",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("127.0.0.1:5000/ironcage", ["image.registry=127.0.0.1:5000"]),
        ("127.0.0.1:5000", ["image.registry=127.0.0.1:5000"]),
        (
            "ghcr.io/acme/",
            [
                "image.registry=ghcr.io",
                "api.image.repository=acme/control-panel-api",
                "web.image.repository=acme/control-panel-web",
            ],
        ),
        (None, []),
    ],
)
def test_image_registry_with_or_without_namespace(
    root: Path, registry: str | None, expected: list[str]
) -> None:
    (chart,) = charts.find_charts(root)
    assert charts.image_sets(chart, None, registry) == expected


def test_an_explicit_registry_wins_over_images_json(root: Path) -> None:
    path = _images_json(
        root,
        "1.2.3",
        {
            "control-panel-api": {
                "repository": "10.0.0.1:5000/x/control-panel-api",
                "digest": DIGEST_A,
            }
        },
    )
    (chart,) = charts.find_charts(root)
    assert charts.image_sets(chart, path, "reg.example.com/ironcage") == [
        "image.registry=reg.example.com",
        f"api.image.digest={DIGEST_A}",
    ]


def test_deploy_refuses_unknown_environment(root: Path) -> None:
    with pytest.raises(ManifestError, match=r"Unknown environment `pilot`"):
        charts.deploy_argvs(root, "pilot")


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
