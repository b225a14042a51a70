"""Flux's side of an environment: its GitRepository and Kustomization, and their conditions.

``connect`` creates or updates, in ``flux-system``, the GitRepository that fetches the
environment's branch and the Kustomization that applies its folder. ``reconcile`` asks Flux
to look now (the ``reconcile.fluxcd.io/requestedAt`` annotation, as ``flux reconcile``
does). ``observe`` reads what Flux applied and whether every HelmRelease is Ready, and
``wait`` polls it until the environment runs a given commit with each chart at its version
(one version for all, or each chart's own in a partial release), or says why not: the
conditions' reasons and messages, as Flux wrote them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from releasekit.core.errors import PublishError
from releasekit.deploy.flux import NAMESPACE
from releasekit.deploy.gitops_env import GitOpsEnv
from releasekit.deploy.gitops_layout import VERSION_ANNOTATION

__all__ = ["Observed", "ReleaseState", "connect", "observe", "reconcile", "wait"]

_SOURCE = ("source.toolkit.fluxcd.io", "v1", "gitrepositories")
_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
_HELM = ("helm.toolkit.fluxcd.io", "v2", "helmreleases")
_OCI = ("source.toolkit.fluxcd.io", "v1", "ocirepositories")
_POLL = 1.0


@dataclass(frozen=True)
class ReleaseState:
    """One HelmRelease as Flux reports it."""

    name: str
    desired: str
    running: str
    ready: bool
    current: bool
    reason: str
    drift: str = ""
    stalled: str = ""

    @property
    def converged(self) -> bool:
        return self.ready and self.current and self.running == self.desired


@dataclass(frozen=True)
class Observed:
    """An environment as Flux reports it: the commit it applied and each HelmRelease."""

    env: str
    applied: str
    kustomization_ready: bool
    kustomization_reason: str
    releases: tuple[ReleaseState, ...] = field(default_factory=tuple)

    def at(self, commit: str) -> bool:
        return self.applied.endswith(commit) and self.kustomization_ready

    def problems(self, commit: str, versions: Mapping[str, str]) -> list[str]:
        """Why the environment does not run ``commit`` with each chart (name -> version) at
        its version; HelmReleases of other charts are left to the Kustomization's prune."""
        found = []
        if not self.at(commit):
            found.append(
                f"Kustomization {NAMESPACE}/ironcage-{self.env} applied "
                f"{self.applied or 'nothing yet'}, not {commit[:12]}"
                f"{f' ({self.kustomization_reason})' if self.kustomization_reason else ''}"
            )
        for r in self.releases:
            if r.name in versions and not (r.converged and r.desired == versions[r.name]):
                found.append(
                    f"HelmRelease {r.name}: {'Ready' if r.ready else 'not Ready'} at "
                    f"{r.running or 'no version'} (desired {r.desired or '?'})"
                    f"{f': {r.reason}' if r.reason else ''}"
                )
        return found

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "releases": [asdict(r) for r in self.releases]}


def _objects(env: GitOpsEnv) -> Any:
    from kubernetes import client as k8s

    return k8s.CustomObjectsApi(env.kube.api())


def _apply(api: Any, kind: tuple[str, str, str], body: dict[str, Any]) -> None:
    from kubernetes.client.exceptions import ApiException

    group, version, plural = kind
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    try:
        api.create_namespaced_custom_object(group, version, namespace, plural, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        api.patch_namespaced_custom_object(group, version, namespace, plural, name, body)


def connect(env: GitOpsEnv, url: str, interval: str = "1m") -> None:
    """The GitRepository and Kustomization of ``env`` in flux-system, created or updated."""
    api = _objects(env)
    meta = {"name": env.flux_name, "namespace": NAMESPACE}
    _apply(api, _SOURCE, {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": meta,
        "spec": {"interval": interval, "url": url, "ref": {"branch": env.branch}},
    })  # fmt: skip
    _apply(api, _KUSTOMIZATION, {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": meta,
        "spec": {
            "interval": interval, "path": f"./{env.path}", "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": env.flux_name},
        },
    })  # fmt: skip


def reconcile(env: GitOpsEnv, charts: list[str] | None = None) -> None:
    """Ask Flux to fetch and apply the environment now, and its HelmReleases to reconcile."""
    from kubernetes.client.exceptions import ApiException

    api = _objects(env)
    stamp = {"metadata": {"annotations": {
        "reconcile.fluxcd.io/requestedAt": datetime.now(UTC).isoformat()}}}  # fmt: skip
    targets = [(_SOURCE, NAMESPACE, env.flux_name), (_KUSTOMIZATION, NAMESPACE, env.flux_name)]
    targets += [(_OCI, env.namespace, c) for c in charts or []]
    targets += [(_HELM, env.namespace, c) for c in charts or []]
    for (group, version, plural), namespace, name in targets:
        try:
            api.patch_namespaced_custom_object(group, version, namespace, plural, name, stamp)
        except ApiException as exc:
            if exc.status != 404:
                raise


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for c in obj.get("status", {}).get("conditions", []) or []:
        if c.get("type") == kind:
            return dict(c)
    return {}


def _release(obj: dict[str, Any]) -> ReleaseState:
    status = obj.get("status", {}) or {}
    ready = _condition(obj, "Ready")
    history = status.get("history") or [{}]
    current = status.get("observedGeneration", -1) == obj["metadata"].get("generation")
    reason = "" if ready.get("status") == "True" else f"{ready.get('reason', 'Progressing')}: " \
        f"{ready.get('message', 'not reconciled yet')}"  # fmt: skip
    drift = ""
    drifted = _condition(obj, "Drifted") or {}
    if drifted.get("status") == "True":
        drift = str(drifted.get("message", "drift detected"))
    stall = _condition(obj, "Stalled")
    stalled = ""
    if stall.get("status") == "True":
        stalled = f"{stall.get('reason', 'Stalled')}: {stall.get('message', '')}"[:400]
    return ReleaseState(
        obj["metadata"]["name"],
        str(obj["metadata"].get("annotations", {}).get(VERSION_ANNOTATION, "")),
        str(history[0].get("appVersion") or history[0].get("chartVersion") or ""),
        ready.get("status") == "True", current, reason[:400], drift, stalled,
    )  # fmt: skip


def observe(env: GitOpsEnv) -> Observed:
    """What Flux applied for ``env`` and the state of each of its HelmReleases."""
    from kubernetes.client.exceptions import ApiException

    api = _objects(env)
    group, version, plural = _KUSTOMIZATION
    try:
        ks = api.get_namespaced_custom_object(group, version, NAMESPACE, plural, env.flux_name)
    except ApiException as exc:
        if exc.status != 404:
            raise
        return Observed(env.name, "", False, "Flux has no Kustomization for it yet")
    ready = _condition(ks, "Ready")
    group, version, plural = _HELM
    listed = api.list_namespaced_custom_object(group, version, env.namespace, plural)
    releases = tuple(sorted((_release(o) for o in listed.get("items", [])), key=lambda r: r.name))
    return Observed(
        env.name, str(ks.get("status", {}).get("lastAppliedRevision", "")),
        ready.get("status") == "True",
        "" if ready.get("status") == "True" else str(ready.get("message", ""))[:400], releases,
    )  # fmt: skip


def _unverified(env: GitOpsEnv, charts: list[str]) -> str:
    """The OCIRepositories of ``charts`` whose signature Flux refused, with its message."""
    group, version, plural = _OCI
    listed = _objects(env).list_namespaced_custom_object(group, version, env.namespace, plural)
    refused = []
    for obj in listed.get("items", []):
        ready = _condition(obj, "Ready")
        name = obj["metadata"]["name"]
        current = ready.get("observedGeneration") == obj["metadata"]["generation"]
        why = f"{ready.get('reason', '')} {ready.get('message', '')}".lower()
        if name in charts and current and ("verif" in why or "signature" in why):
            refused.append(f"OCIRepository {env.namespace}/{name}: {ready.get('message', '')}")
    return "; ".join(refused)[:800]


def _stalled(observed: Observed, charts: list[str]) -> str:
    """Why the environment will not converge by waiting (a remediated upgrade), or ""."""
    for r in observed.releases:
        if r.name in charts and r.current and not r.ready and r.stalled:
            return (
                f"HelmRelease {r.name}: {r.reason} ({r.stalled}); it runs {r.running or 'nothing'}"
                f", desired {r.desired}"
            )
    return ""


def wait(
    env: GitOpsEnv, commit: str, version: str, charts: Mapping[str, str], timeout: float,
    say: Callable[[str], None] = lambda _line: None,
) -> Observed:  # fmt: skip
    """Until Flux applied ``commit`` and the HelmRelease of every chart of ``charts`` (name
    -> version) is Ready at its version; PublishError naming what is not, and why, after
    ``timeout`` seconds. ``version`` names the release in the messages."""
    deadline = time.monotonic() + timeout
    last: list[str] = []
    observed = observe(env)
    while time.monotonic() < deadline:
        observed = observe(env)
        mine = [r for r in observed.releases if r.name in charts]
        missing = sorted(set(charts) - {r.name for r in mine})
        problems = observed.problems(commit, charts)
        problems += [f"HelmRelease {name}: not created yet" for name in missing]
        if not problems:
            return observed
        if observed.at(commit):
            unverified = _unverified(env, list(charts))
            if unverified:
                raise PublishError(
                    f"{env.describe()} cannot run {version} (commit {commit[:12]}): Flux refused "
                    f"the chart's signature: {unverified}. The environment keeps running what "
                    "it ran before; publish charts signed by the release key, or roll back "
                    f"(`invoke rollback --env {env.name}`)."
                )
            stalled = _stalled(observed, list(charts))
            if stalled:
                raise PublishError(
                    f"{env.describe()} did not become ready at {version} (commit "
                    f"{commit[:12]}): helm-controller gave up and remediated it. {stalled}. "
                    "The environment keeps running what it ran before; see `invoke "
                    "gitops.status`."
                )
        if problems != last:
            say("; ".join(problems))
            last = problems
        time.sleep(_POLL)
    raise PublishError(
        f"{env.describe()} did not converge to {version} (commit {commit[:12]}) within "
        f"{timeout:.0f} s:\n- "
        + "\n- ".join(last or observed.problems(commit, charts))
        + "\nIs Flux running (`invoke cluster.status`)? Its logs are in .sandbox/cluster/logs/."
    )
