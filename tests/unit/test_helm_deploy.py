"""releasekit.deploy.helm without a cluster: image pins, plans, user values, rollback targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from releasekit.core.errors import ManifestError
from releasekit.deploy import helm as helm_deploy
from releasekit.deploy import helm_pins, kube_env
from releasekit.deploy.kube import Kube
from releasekit.deploy.kube_env import KubeEnv
from releasekit.publish import charts

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


def _env(name: str = "staging", namespace: str | None = None) -> KubeEnv:
    return KubeEnv(name, name, namespace or f"ironcage-{name}", Kube())


def _sets(argv: tuple[str, ...]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]


def test_deploy_pins_images_by_digest(root: Path) -> None:
    data = {
        "control-panel-api": {
            "repository": "127.0.0.1:5000/ironcage/control-panel-api",
            "tags": ["1.2.3"],
            "digest": DIGEST_A,
        },
        "control-panel-web": {
            "repository": "127.0.0.1:5000/ironcage/control-panel-web",
            "digest": DIGEST_W,
        },
    }
    _images_json(root, "1.2.3", data)
    (up,) = helm_deploy.plan(root, _env())
    assert up.argv[:5] == ("helm", "upgrade", "--install", "control-panel", "helm/control-panel")
    assert _sets(up.argv) == [
        "image.registry=127.0.0.1:5000",
        f"api.image.digest={DIGEST_A}",
        f"web.image.digest={DIGEST_W}",
    ]
    assert up.values == Path("helm/control-panel/values-staging.yaml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"images": [{"name": "control-panel-api", "digest": DIGEST_A}]},
            r"images\.json: entry `images` is \[.*not an object with a `sha256:` digest",
        ),
        (
            {"control-panel-api": f"127.0.0.1:5000/ironcage/control-panel-api@{DIGEST_A}"},
            r"entry `control-panel-api` is '127\.0\.0\.1.*invoke docker\.push",
        ),
        ([DIGEST_A], r"images\.json holds a list, not a mapping of image name"),
    ],
    ids=["list", "references", "array"],
)
def test_images_json_has_one_shape(root: Path, data: object, message: str) -> None:
    _images_json(root, "1.2.3", data)
    with pytest.raises(ManifestError, match=message):
        helm_deploy.plan(root, _env())


def test_deploy_sets_the_repository_when_the_registry_namespace_differs(root: Path) -> None:
    _images_json(
        root,
        "1.2.3",
        {"control-panel-api": {"repository": "ghcr.io/acme/control-panel-api", "digest": DIGEST_A}},
    )
    (up,) = helm_deploy.plan(root, _env("prod"), chart_registry="oci://ghcr.io/acme/charts")
    argv = list(up.argv)
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
    (up,) = helm_deploy.plan(
        root, _env("dev", "team"), version="1.2.3", image_registry="r.example.com", dry_run="server"
    )
    assert _sets(up.argv) == ["image.registry=r.example.com"]
    assert up.argv[up.argv.index("--namespace") + 1] == "team"
    assert up.argv[-1] == "--dry-run=server"


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ([], {"replicaCount": 1}),
        (["image.registry=h:1", "api.image.digest=sha256:x"],
         {"replicaCount": 1, "image": {"registry": "h:1"},
          "api": {"image": {"digest": "sha256:x"}}}),
    ],
)  # fmt: skip
def test_user_values_are_what_helm_records(
    tmp_path: Path, sets: list[str], expected: object
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("replicaCount: 1\n")
    assert helm_pins.user_values(values, sets) == expected


def _rev(n: int, version: str, status: str) -> dict[str, object]:
    return {"revision": n, "app_version": version, "status": status}


@pytest.mark.parametrize(
    ("revisions", "to", "expected"),
    [
        ([_rev(1, "1.0", "superseded"), _rev(2, "1.1", "deployed")], None, 1),
        # a failed upgrade and helm's own rollback are skipped: the previous version is 1.0
        ([_rev(1, "1.0", "superseded"), _rev(2, "1.1", "superseded"), _rev(3, "1.2", "failed"),
          _rev(4, "1.1", "deployed")], None, 1),
        ([_rev(1, "1.0", "superseded"), _rev(2, "1.1", "superseded"), _rev(3, "1.2", "deployed")],
         "1.0", 1),
        ([_rev(1, "1.0", "deployed")], None, None),
        ([_rev(1, "1.0", "superseded"), _rev(2, "1.1", "deployed")], "3.0", None),
    ],
)  # fmt: skip
def test_rollback_target(
    revisions: list[dict[str, object]], to: str | None, expected: int | None
) -> None:
    found = helm_deploy._target(revisions, to)
    assert (found["revision"] if found else None) == expected


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
    assert helm_pins.image_sets(chart, None, registry) == expected


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
    assert helm_pins.image_sets(chart, path, "reg.example.com/ironcage") == [
        "image.registry=reg.example.com",
        f"api.image.digest={DIGEST_A}",
    ]


def test_deploy_refuses_unknown_environment(root: Path) -> None:
    with pytest.raises(ManifestError, match=r"Environment `pilot` deploys no charts"):
        kube_env.resolve(root, "pilot")


def test_helm_4_flags(root: Path) -> None:
    (up,) = helm_deploy.plan(root, _env(), timeout="30s")
    assert {"--server-side=true", "--rollback-on-failure", "--wait=watcher"} <= set(up.argv)
    assert "--atomic" not in up.argv
    assert up.argv[up.argv.index("--timeout") + 1] == "30s"
