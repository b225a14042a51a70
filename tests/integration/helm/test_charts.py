"""The real charts with the real helm: lint, render + schema, package, push, pull."""

from __future__ import annotations

import hashlib
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from releasekit.core import manifest, run
from releasekit.core.artifact import ImagePin, write_images
from releasekit.core.errors import ConflictError, ToolError
from releasekit.deploy import helm_pins, testbed
from releasekit.publish import charts, third_party
from tests.conftest import REPO
from tests.integration.helm.conftest import CHARTS

pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "d" * 64
EPOCH = 1_767_225_600


def _by_kind(rendered: charts.Rendered) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for doc in rendered.manifests:
        found.setdefault(doc["kind"], []).append(doc)
    return found


def _contents(archive: Path) -> dict[str, str]:
    with tarfile.open(archive, "r:gz") as tar:
        return {
            m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_lint_strict_passes_for_every_chart_and_environment() -> None:
    assert charts.lint(REPO) == len(CHARTS) * len(charts.ENVIRONMENTS)


@pytest.mark.parametrize("env", charts.ENVIRONMENTS)
@pytest.mark.parametrize("chart", CHARTS)
def test_every_rendered_manifest_is_valid(chart: str, env: str) -> None:
    (found,) = charts.find_charts(REPO, chart)
    rendered = charts.render(REPO, env, found)
    assert rendered.manifests
    assert charts.validate(rendered) == []
    for doc in rendered.manifests:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == chart
        assert labels["app.kubernetes.io/version"] == found.version
        assert doc["metadata"]["namespace"] == f"ironcage-{env}"
    for deployment in _by_kind(rendered)["Deployment"]:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["runAsUser"] == 10001
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"]["drop"] == ["ALL"]
            assert set(container["resources"]) == {"requests", "limits"}
            if container["name"] == "redis":  # the task store beside the runtime
                assert {"livenessProbe", "readinessProbe"} <= set(container)
                continue
            assert container["livenessProbe"]["httpGet"]["path"] == "/health"
            assert container["readinessProbe"]["httpGet"]["path"] == "/health"
            assert set(container["resources"]) == {"requests", "limits"}
            assert container["image"].endswith(f":{found.version}")
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


@pytest.mark.parametrize(("env", "ingress"), [("dev", False), ("staging", True), ("prod", True)])
def test_control_panel_shape(env: str, ingress: bool) -> None:
    (chart,) = charts.find_charts(REPO, "control-panel")
    kinds = _by_kind(charts.render(REPO, env, chart))
    api, web = sorted(kinds["Deployment"], key=lambda d: d["metadata"]["name"])
    assert api["spec"]["replicas"] == 1 and api["spec"]["strategy"] == {"type": "Recreate"}
    (api_container,) = api["spec"]["template"]["spec"]["containers"]
    assert api_container["ports"][0]["containerPort"] == 8000
    token = next(e for e in api_container["env"] if e["name"] == "CONTROL_PANEL_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {"name": "control-panel-token", "key": "token"}
    (web_container,) = web["spec"]["template"]["spec"]["containers"]
    assert web_container["ports"][0]["containerPort"] == 8080
    assert {"name": "API_UPSTREAM", "value": "control-panel-api:8000"} in web_container["env"]
    assert [p["metadata"]["name"] for p in kinds["PersistentVolumeClaim"]] == ["control-panel-data"]
    assert sorted(s["metadata"]["name"] for s in kinds["Service"]) == [
        "control-panel-api",
        "control-panel-web",
    ]
    assert ("Ingress" in kinds) is ingress
    assert "Secret" not in kinds
    policies = {p["metadata"]["name"]: p["spec"] for p in kinds["NetworkPolicy"]}
    api_from = policies["control-panel-api"]["ingress"][0]["from"][0]["podSelector"]
    assert api_from["matchLabels"]["app.kubernetes.io/component"] == "web"
    assert set(kinds) >= {"ServiceAccount", "Deployment", "Service", "NetworkPolicy"}


def test_agent_runtime_shape() -> None:
    (chart,) = charts.find_charts(REPO, "agent-runtime")
    kinds = _by_kind(charts.render(REPO, "prod", chart))
    (hpa,) = kinds["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "agent-runtime"
    (pdb,) = kinds["PodDisruptionBudget"]
    assert pdb["apiVersion"] == "policy/v1"
    (role,) = kinds["Role"]
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["agent-runtime"],
            "verbs": ["get"],
        }
    ]
    (binding,) = kinds["RoleBinding"]
    assert binding["subjects"][0]["name"] == kinds["ServiceAccount"][0]["metadata"]["name"]
    deployment, redis = sorted(kinds["Deployment"], key=lambda d: d["metadata"]["name"])
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    token = next(e for e in container["env"] if e["name"] == "AGENT_RUNTIME_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {"name": "agent-runtime-token", "key": "token"}
    (config,) = kinds["ConfigMap"]
    assert config["data"] == {
        "PORT": "8080",
        "WORKERS": "4",
        "REDIS_URL": "redis://agent-runtime-redis:6379/0",
    }
    assert redis["metadata"]["name"] == "agent-runtime-redis"
    assert redis["spec"]["replicas"] == 1
    redis_labels = redis["spec"]["template"]["metadata"]["labels"]
    # The runtime's Deployment, Service and policies never select the Redis pod.
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert not selector.items() <= redis_labels.items()
    assert "Secret" not in kinds
    policies = {p["metadata"]["name"]: p["spec"] for p in kinds["NetworkPolicy"]}
    runtime_policy = policies["agent-runtime"]
    assert runtime_policy["policyTypes"] == ["Ingress", "Egress"]
    egress_ports = [port["port"] for rule in runtime_policy["egress"] for port in rule["ports"]]
    assert egress_ports == [53, 53, 6379]
    redis_policy = policies["agent-runtime-redis"]
    assert redis_policy["egress"] == []
    assert redis_policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == selector


def test_agent_runtime_without_redis_runs_one_replica() -> None:
    (chart,) = charts.find_charts(REPO, "agent-runtime")
    kinds = _by_kind(charts.render(REPO, "prod", chart, ["redis.enabled=false"]))
    (deployment,) = kinds["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert "HorizontalPodAutoscaler" not in kinds
    assert "PodDisruptionBudget" not in kinds
    (config,) = kinds["ConfigMap"]
    assert "REDIS_URL" not in config["data"]
    (policy,) = kinds["NetworkPolicy"]
    egress = policy["spec"]["egress"]
    assert [port["port"] for rule in egress for port in rule["ports"]] == [53, 53]


def test_agent_runtime_with_an_external_redis() -> None:
    (chart,) = charts.find_charts(REPO, "agent-runtime")
    sets = ["redis.enabled=false", "redis.external.existingSecret=runtime-redis"]
    kinds = _by_kind(charts.render(REPO, "prod", chart, sets))
    (deployment,) = kinds["Deployment"]
    assert "replicas" not in deployment["spec"]
    assert len(kinds["HorizontalPodAutoscaler"]) == 1
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    url = next(e for e in container["env"] if e["name"] == "REDIS_URL")
    assert url["valueFrom"]["secretKeyRef"] == {"name": "runtime-redis", "key": "url"}


def test_digest_wins_over_tag_and_registry_prefixes() -> None:
    (chart,) = charts.find_charts(REPO, "control-panel")
    sets = ["image.registry=127.0.0.1:5000", f"api.image.digest={DIGEST}", "web.image.tag=9.9.9"]
    kinds = _by_kind(charts.render(REPO, "dev", chart, sets))
    images = sorted(
        c["image"] for d in kinds["Deployment"] for c in d["spec"]["template"]["spec"]["containers"]
    )
    assert images == [
        f"127.0.0.1:5000/ironcage/control-panel-api@{DIGEST}",
        "127.0.0.1:5000/ironcage/control-panel-web:9.9.9",
    ]


def _images(rendered: charts.Rendered) -> list[str]:
    return sorted(
        c["image"]
        for doc in rendered.manifests
        if doc["kind"] == "Deployment"
        for key in ("containers", "initContainers")
        for c in doc["spec"]["template"]["spec"].get(key, [])
    )


@pytest.mark.parametrize("env", charts.ENVIRONMENTS)
@pytest.mark.parametrize("chart", CHARTS)
def test_every_image_a_deploy_runs_is_pinned_by_digest(
    chart: str, env: str, tmp_path: Path
) -> None:
    (found,) = charts.find_charts(REPO, chart)
    folder = tmp_path / "dist" / "9.9.9"
    released = {"agent-runtime", "control-panel-api", "control-panel-web"}
    images_json = folder / "images.json"
    write_images(
        images_json,
        {n: ImagePin(f"127.0.0.1:5000/ironcage/{n}", ("9.9.9",), DIGEST) for n in released},
    )
    (redis,) = manifest.load(REPO).third_party
    served = "sha256:" + "e" * 64
    pin = third_party.ThirdPartyPin(
        "redis", redis.source, redis.origin, "127.0.0.1:5000/ironcage/redis", served, redis.digest
    )
    third_party.write(folder / third_party.THIRD_PARTY_FILE, [pin])
    sets = helm_pins.image_sets(found, images_json, "127.0.0.1:5000/ironcage", frozenset(released))
    rendered = charts.render(REPO, env, found, sets)
    assert charts.validate(rendered) == []
    images = _images(rendered)
    assert images and all("@sha256:" in image for image in images), images
    if chart == "agent-runtime":
        assert f"127.0.0.1:5000/ironcage/redis@{served}" in images
    # Without a release record, the target's registry at release.toml's pin.
    fallback = charts.render(REPO, env, found, helm_pins.third_party_sets(found, None, "reg.io/x"))
    default = charts.render(REPO, env, found)
    if chart == "agent-runtime":
        assert f"reg.io/x/redis@{redis.digest}" in _images(fallback)
        assert f"redis@{redis.digest}" in _images(default)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("bogus: 1\n", "additional properties 'bogus' not allowed"),
        ("api:\n  image:\n    digest: latest\n", "at '/api/image/digest': 'latest' does not match"),
        ('auth:\n  existingSecret: ""\n', "at '/auth/existingSecret'"),
        ("securityContext:\n  runAsNonRoot: false\n", "at '/securityContext/runAsNonRoot'"),
    ],
)
def test_values_breaking_the_schema_name_the_file(copy: Path, values: str, message: str) -> None:
    (copy / "helm/control-panel/values-staging.yaml").write_text(values)
    with pytest.raises(ToolError) as info:
        charts.lint(copy, ("staging",), "control-panel")
    text = str(info.value)
    assert message in text
    assert "The values in helm/control-panel/values-staging.yaml break the chart's" in text
    with pytest.raises(ToolError, match=r"values-staging\.yaml break"):
        charts.render(copy, "staging", charts.find_charts(copy, "control-panel")[0])


def test_package_push_pull_and_idempotence(
    copy: Path, tmp_path: Path, registry: testbed.Service
) -> None:
    version = "9.9.1"
    archives = charts.package(copy, version, epoch=EPOCH)
    assert sorted(a.name for a in archives) == [f"{c}-{version}.tgz" for c in CHARTS]
    for archive in archives:
        name = archive.name.removesuffix(f"-{version}.tgz")
        assert archive.parent == copy / "dist" / version / "charts"
        with tarfile.open(archive) as tar:
            handle = tar.extractfile(f"{name}/Chart.yaml")
            assert handle is not None
            meta = yaml.safe_load(handle.read())
        assert (meta["version"], meta["appVersion"]) == (version, version)
        files = _contents(archive)
        assert f"{name}/values.schema.json" in files
        # helm reads the rewritten archive as a chart.
        values = copy / "helm" / name / "values-dev.yaml"
        charts.run_helm(charts.lint_argv(archive, values), values, mutates=False)
        assert not any("/values-" in f for f in files)  # environments stay in the repository

    first = [charts.push(a, registry.host) for a in archives]
    assert [p.action for p in first] == ["pushed", "pushed"]
    assert first[0].ref == f"oci://{registry.host}/charts/agent-runtime:{version}"

    pulled = tmp_path / "pulled"
    pulled.mkdir()
    for archive in archives:
        name = archive.name.removesuffix(f"-{version}.tgz")
        run.run(charts.pull_argv(registry.host, name, version, pulled), mutates=False)
        back = pulled / archive.name
        assert back.read_bytes() == archive.read_bytes()
        assert _contents(back) == _contents(archive)

    again = [charts.push(a, registry.host) for a in archives]
    assert {p.action for p in again} == {"skipped (identical content already there)"}

    # Packaged again after every file got a new time, the archive has the same bytes.
    packaged = {a.name: a.read_bytes() for a in archives}
    later = time.time() + 3600
    for path in (copy / "helm").rglob("*"):
        os.utime(path, (later, later))
    for again_archive in charts.package(copy, version, epoch=EPOCH):
        assert again_archive.read_bytes() == packaged[again_archive.name]
    (rebuilt,) = charts.package(copy, version, "agent-runtime", epoch=EPOCH)
    assert charts.push(rebuilt, registry.host).action.startswith("skipped")
    # The same files in an archive of other bytes (another packaging) are a conflict: the
    # signature names the archive.
    (other,) = charts.package(copy, version, "agent-runtime", epoch=EPOCH + 1)
    with pytest.raises(ConflictError, match=r"holds the same files .* but another archive"):
        charts.push(other, registry.host)

    chart_yaml = copy / "helm/agent-runtime/Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("description:", "description: Changed."))
    (changed,) = charts.package(copy, version, "agent-runtime", epoch=EPOCH)
    with pytest.raises(ConflictError, match=r"agent-runtime:9\.9\.1 already exists with different"):
        charts.push(changed, registry.host)
