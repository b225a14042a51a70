"""The desired state of one environment as files: ``clusters/<env>/`` of the GitOps repository.

For every chart an OCIRepository (the chart in the OCI registry by tag and digest,
``insecure: true`` for a plain-HTTP loopback registry, its cosign signature checked with the
release's public key held in the Secret ``cosign-pub``) and a HelmRelease (``chartRef`` to
it, the environment's values with every image pinned by digest, drift detection on, a failed
upgrade rolled back). Beside them the namespace, the Secret, a ``kustomization.yaml`` listing
them, and ``desired.json``: the release, each chart's version and digest and the image pins,
from which ``read`` gives back what a promotion copies. Each chart has a version of its own:
a lockstep release runs every chart at its version, a partial independent release runs each
chart at its package's version (the HelmRelease's version annotation is the chart's).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from releasekit.deploy.gitops_env import GitOpsEnv
from releasekit.deploy.helm_pins import user_values
from releasekit.publish.charts import find_charts, plain_http

__all__ = ["DESIRED_FILE", "KEY_SECRET", "ChartPin", "Desired", "read", "render"]

DESIRED_FILE = "desired.json"
KEY_SECRET = "cosign-pub"
CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
VERSION_ANNOTATION = "releasekit.ironcage.dev/version"
_INTERVAL = "10m"  # the chart is pinned by digest: its source seldom needs a look


@dataclass(frozen=True)
class ChartPin:
    """One chart as an environment runs it: where, which version and digest, which image pins."""

    name: str
    url: str
    version: str
    digest: str
    sets: tuple[str, ...]


@dataclass(frozen=True)
class Desired:
    """What an environment should run: the release (its version, or an independent release's
    id) and every chart pinned, each at its own version."""

    version: str
    charts: tuple[ChartPin, ...]
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "source": self.source,
                "charts": [asdict(c) for c in self.charts]}  # fmt: skip

    def versions(self) -> dict[str, str]:
        """Chart name -> the version it runs at."""
        return {c.name: c.version for c in self.charts}

    def partial(self) -> bool:
        """Whether some chart runs at another version than the release's."""
        return any(c.version != self.version for c in self.charts)

    def images(self) -> dict[str, str]:
        """Values path -> digest of every image the charts pin (``api.image.digest``)."""
        return {
            f"{c.name}:{s.partition('=')[0]}": s.partition("=")[2]
            for c in self.charts
            for s in c.sets
            if s.partition("=")[0].endswith(".digest")
        }


def read(text: str) -> Desired:
    """``desired.json`` back into a ``Desired``."""
    data = json.loads(text)
    pins = tuple(
        ChartPin(c["name"], c["url"], c["version"], c["digest"], tuple(c["sets"]))
        for c in data["charts"]
    )
    return Desired(str(data["version"]), pins, str(data.get("source", "")))


def _yaml(*docs: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)


def _oci_repository(env: GitOpsEnv, pin: ChartPin) -> dict[str, Any]:
    ref: dict[str, str] = {"tag": pin.version}
    if pin.digest:
        ref["digest"] = pin.digest
    spec: dict[str, Any] = {
        "interval": _INTERVAL,
        "url": pin.url,
        "ref": ref,
        "layerSelector": {"mediaType": CHART_LAYER, "operation": "copy"},
        "verify": {"provider": "cosign", "secretRef": {"name": KEY_SECRET}},
    }
    if plain_http(pin.url):
        spec["insecure"] = True
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": pin.name, "namespace": env.namespace},
        "spec": spec,
    }


def _helm_release(env: GitOpsEnv, pin: ChartPin, values: Path) -> dict[str, Any]:
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {
            "name": pin.name,
            "namespace": env.namespace,
            "annotations": {VERSION_ANNOTATION: pin.version},
        },
        "spec": {
            "interval": env.reconcile,  # how soon helm-controller puts drift back
            "timeout": env.timeout,
            "releaseName": pin.name,
            "chartRef": {"kind": "OCIRepository", "name": pin.name},
            "driftDetection": {"mode": "enabled"},
            "install": {"remediation": {"retries": 0}},
            "upgrade": {
                "remediation": {"retries": 0, "remediateLastFailure": True, "strategy": "rollback"}
            },
            "values": user_values(values, list(pin.sets)),
        },
    }


def render(root: Path, env: GitOpsEnv, desired: Desired, public_key: str) -> dict[str, str]:
    """File name -> text of ``env.path``: the whole desired state of the environment."""
    charts = {c.name: c for c in find_charts(root)}
    files = {
        "namespace.yaml": _yaml(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env.namespace}}
        ),
        f"{KEY_SECRET}.yaml": _yaml(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": KEY_SECRET, "namespace": env.namespace},
                "stringData": {"cosign.pub": public_key.strip() + "\n"},
            }
        ),
    }
    for pin in desired.charts:
        values = charts[pin.name].values(env.values)
        files[f"{pin.name}.yaml"] = _yaml(
            _oci_repository(env, pin), _helm_release(env, pin, values)
        )
    files["kustomization.yaml"] = _yaml(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(f for f in files if f.endswith(".yaml")),
        }
    )
    files[DESIRED_FILE] = json.dumps(desired.to_json(), indent=2, sort_keys=True) + "\n"
    return files
