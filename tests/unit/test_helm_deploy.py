"""releasekit.helm_deploy without helm: argv builders, image pins, deploy argument lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from releasekit import charts, helm_deploy
from releasekit.errors import ManifestError

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
            helm_deploy.upgrade_argv("app", "helm/app", "ironcage-dev", Path("v.yaml"), ["x=1"]),
            [
                "helm", "upgrade", "--install", "app", "helm/app", "--namespace", "ironcage-dev",
                "--create-namespace", "--atomic", "--wait", "--timeout", "5m", "-f", "v.yaml",
                "--set", "x=1",
            ],
        ),
        (
            helm_deploy.upgrade_argv(
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
            helm_deploy.rollback_argv("app", "ironcage-prod"),
            ["helm", "rollback", "app", "--namespace", "ironcage-prod", "--wait"],
        ),
        (
            helm_deploy.rollback_argv("app", "ironcage-prod", 4),
            ["helm", "rollback", "app", "4", "--namespace", "ironcage-prod", "--wait"],
        ),
        (
            helm_deploy.history_argv("app", "ironcage-prod"),
            ["helm", "history", "app", "--namespace", "ironcage-prod", "-o", "json"],
        ),
    ],
)  # fmt: skip
def test_argv_builders(argv: list[str], expected: list[str]) -> None:
    assert argv == expected


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
    (argv,) = helm_deploy.deploy_argvs(root, "staging")
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
    (argv,) = helm_deploy.deploy_argvs(root, "prod", chart_registry="oci://ghcr.io/acme/charts")
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
    (argv,) = helm_deploy.deploy_argvs(
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
    assert helm_deploy.image_sets(chart, None, registry) == expected


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
    assert helm_deploy.image_sets(chart, path, "reg.example.com/ironcage") == [
        "image.registry=reg.example.com",
        f"api.image.digest={DIGEST_A}",
    ]


def test_deploy_refuses_unknown_environment(root: Path) -> None:
    with pytest.raises(ManifestError, match=r"Unknown environment `pilot`"):
        helm_deploy.deploy_argvs(root, "pilot")
