"""One helm release read back from the cluster: its history, and what state it is in.

Every statement the toolkit makes about a chart after a failure comes from here: helm's own
record (``helm history -o json``), never from what the toolkit expected to happen.
"""

from __future__ import annotations

import json
from typing import Any

from releasekit.core.errors import ToolError
from releasekit.deploy.kube_env import KubeEnv
from releasekit.publish.charts import run_helm

__all__ = [
    "PENDING",
    "current",
    "history_argv",
    "last_good",
    "no_cluster",
    "revisions",
    "state_after_failure",
    "version_of",
]

PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
"""Statuses helm gives a revision while it works on it; left behind when helm dies."""


def history_argv(release: str, namespace: str) -> list[str]:
    return ["helm", "history", release, "--namespace", namespace, "-o", "json"]


def revisions(env: KubeEnv, release: str) -> list[dict[str, Any]]:
    """``helm history`` of one release, oldest first; [] when it was never installed."""
    result = run_helm(
        history_argv(release, env.namespace), check=False, mutates=False, quiet=True,
        env=env.kube.env(),
    )  # fmt: skip
    if result.returncode != 0:
        if "not found" in result.stderr.lower():
            return []
        raise ToolError(list(result.argv), result.returncode, result.stderr, no_cluster(env))
    return list(json.loads(result.stdout or "[]"))


def current(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The revision helm runs (status ``deployed``), if any."""
    deployed = [r for r in history if r.get("status") == "deployed"]
    return deployed[-1] if deployed else None


def last_good(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest revision that ran: deployed, else the newest superseded one."""
    found = current(history)
    if found is not None:
        return found
    superseded = [r for r in history if r.get("status") == "superseded"]
    return superseded[-1] if superseded else None


def version_of(revision: dict[str, Any] | None) -> str | None:
    return str(revision.get("app_version")) if revision else None


def no_cluster(env: KubeEnv) -> str:
    if env.local:
        return "The local cluster does not answer: start it with `invoke cluster.up`."
    return (
        f"Environment {env.name} needs a Kubernetes cluster: point KUBECONFIG (and "
        "RELEASEKIT_KUBE_CONTEXT) at one, or deploy to the local one with `invoke cluster.up` "
        "and `--env cluster`."
    )


def state_after_failure(
    history: list[dict[str, Any]], before: dict[str, Any] | None, previous: str | None
) -> str:
    """What helm's history says became of a release whose upgrade failed (a clause).

    ``before`` is the revision deployed before the upgrade, ``previous`` its version.
    """
    if not history:
        return "which is not installed (helm made no revision of it)"
    last = history[-1]
    number, status, version = last.get("revision"), str(last.get("status")), version_of(last)
    running = current(history)
    runs = (
        f"revision {running['revision']} at {version_of(running)} is the deployed one"
        if running is not None
        else "no revision of it is deployed"
    )
    if status in PENDING:
        return (
            f"which helm left {status} at revision {number} (helm stopped before finishing; "
            f"{runs}). The next deploy recovers it: it rolls back to the last deployed "
            "revision (or uninstalls a release that never deployed), then upgrades again"
        )
    if status == "deployed":
        if before is not None and number == before.get("revision"):
            return f"where helm made no new revision: it is still at {version} (revision {number})"
        if version == previous:
            return (
                f"which helm rolled back by itself to its previous version {version} "
                f"(revision {number})"
            )
        return f"which is now at {version} (revision {number} deployed)"
    return f"whose last revision {number} is {status} ({runs})"
