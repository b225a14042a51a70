"""Health of a Kubernetes environment, read from the API server.

An environment is healthy when every chart's release is ``deployed`` (at the expected
version, when one is given) and every Deployment and StatefulSet of those releases has
rolled out: all replicas updated, available, and no old ones left.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from releasekit.core.errors import PublishError
from releasekit.deploy import helm as helm_deploy
from releasekit.deploy import kube
from releasekit.deploy.kube_env import KubeEnv
from releasekit.publish.charts import find_charts

__all__ = ["ReleaseHealth", "check", "live_images"]


@dataclass(frozen=True)
class ReleaseHealth:
    """One release: its helm status and version, and its workloads on the cluster."""

    release: str
    status: str
    version: str | None
    revision: int | None
    workloads: tuple[kube.Workload, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "release": self.release,
            "status": self.status,
            "version": self.version,
            "revision": self.revision,
            "ok": self.ok,
            "problems": list(self.problems),
            "workloads": [w.to_json() for w in self.workloads],
        }


def _one(
    env: KubeEnv, name: str, revisions: list[dict[str, object]], expected: str | None
) -> ReleaseHealth:
    last = revisions[-1] if revisions else None
    status = str(last.get("status")) if last else "not installed"
    version = str(last.get("app_version")) if last else None
    revision = int(str(last["revision"])) if last else None
    problems = []
    if status != "deployed":
        problems.append(f"{name} is {status}, not deployed")
    if expected is not None and version != expected:
        problems.append(f"{name} runs {version}, expected {expected}")
    found = kube.workloads(env.kube, env.namespace, name) if last else []
    if last and not found:
        problems.append(f"{name} has no Deployment or StatefulSet in {env.namespace}")
    problems += [f"{w.kind}/{w.name} not rolled out: {w.reason}" for w in found if w.reason]
    return ReleaseHealth(name, status, version, revision, tuple(found), tuple(problems))


def check(
    root: Path, env: KubeEnv, expected: str | Mapping[str, str] | None = None
) -> list[ReleaseHealth]:
    """The health of every chart's release in ``env``, from helm and the API server.

    ``expected`` is the version every release must run, or one per release (chart name ->
    version: a partial release's charts run at their own versions).
    """
    found = helm_deploy.history(root, env)
    return [
        _one(env, name, found[name], expected.get(name) if isinstance(expected, Mapping)
             else expected)
        for name in sorted(found)
    ]  # fmt: skip


def live_images(root: Path, env: KubeEnv, released: Collection[str]) -> dict[str, str]:
    """Image name (last path part) -> ``sha256:`` digest the live workloads run, per chart.

    Only the ``released`` images (those the release built) are reported, and each of them
    must run by digest; third-party images a chart deploys beside them (a Redis) are not the
    release's to pin.
    """
    images: dict[str, str] = {}
    for chart in find_charts(root):
        for workload in kube.workloads(env.kube, env.namespace, chart.name):
            for ref in workload.images:
                name, _, digest = ref.partition("@")
                if name.rsplit("/", 1)[-1].partition(":")[0] not in released:
                    continue
                if not digest:
                    raise PublishError(
                        f"{workload.kind}/{workload.name} runs {ref}, which is not pinned by "
                        "digest."
                    )
                images[name.rsplit("/", 1)[-1]] = digest
    return images
