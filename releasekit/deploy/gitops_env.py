"""The GitOps environments of release.toml: where each one's desired state lives in git.

An environment deploys by commit when its table says ``deploy = "gitops"``::

    [environments.dev]
    deploy = "gitops"
    repository = "sandbox"      # the sandbox's GitOps repository, or an http(s)/ssh git URL
    branch = "main"             # default "main"
    path = "clusters/dev"       # default clusters/<name>
    helm = "dev"                # values file of each chart: helm/<chart>/values-<helm>.yaml
    flux = "local"              # Flux of the sandbox's cluster; leave out for KUBECONFIG's
    token_env = "ENVIRONMENTS_TOKEN"  # https only: the variable holding the token that pushes
    timeout = "2m"              # how long helm-controller waits for a rollout before remediating

Its charts run in namespace ``ironcage-<name>``; Flux (one GitRepository and one
Kustomization per environment, in ``flux-system``) applies ``path`` of ``branch``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasekit.core import manifest
from releasekit.core.errors import ManifestError, PreflightError
from releasekit.deploy import cluster
from releasekit.deploy.kube import Kube
from releasekit.publish import charts

__all__ = ["GITOPS", "SANDBOX", "GitOpsEnv", "gitops_environments", "resolve"]

GITOPS = "gitops"
SANDBOX = "sandbox"
_KEYS = {
    "deploy", "repository", "branch", "path", "helm", "flux", "context", "token_env",
    "timeout", "reconcile", "terraform", "compose",
}  # fmt: skip
_URL = re.compile(r"^(https?://[^\s/]+/\S+|ssh://\S+|[\w.-]+@[\w.-]+:\S+)$")
_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_DURATION = re.compile(r"^[1-9][0-9]*(s|m|h)$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


@dataclass(frozen=True)
class GitOpsEnv:
    """One environment deployed by commit: its repository, folder, values and cluster."""

    name: str
    repository: str
    branch: str
    path: str
    values: str
    namespace: str
    kube: Kube
    local_root: Path | None = None
    token_env: str = ""
    timeout: str = "2m"
    reconcile: str = "1m"
    """How often helm-controller compares the cluster with the release (drift put back)."""

    @property
    def sandbox(self) -> bool:
        """True when the desired state lives in the sandbox's own GitOps repository."""
        return self.repository == SANDBOX

    @property
    def flux_name(self) -> str:
        """The name of its GitRepository and Kustomization in flux-system."""
        return f"ironcage-{self.name}"

    def token(self) -> str:
        """The push token (from ``token_env``) for an https repository; empty otherwise."""
        if not self.token_env or not self.repository.startswith("https://"):
            return ""
        value = os.environ.get(self.token_env, "")
        if not value:
            raise PreflightError(
                f"Environment `{self.name}` pushes to {self.repository} with the token in "
                f"{self.token_env}, which is not set. Export {self.token_env} (a token that may "
                "push to that repository), then run again."
            )
        return value

    def describe(self) -> str:
        return f"{self.name} ({self.path} of {self.repository}@{self.branch})"


def gitops_environments(root: Path) -> dict[str, dict[str, Any]]:
    """Name -> table of every environment of release.toml with ``deploy = "gitops"``."""
    if not (root / manifest.MANIFEST_NAME).is_file():
        return {}
    found = manifest.load(root).environments
    return {name: dict(t) for name, t in found.items() if isinstance(t, dict) and t.get("deploy")}


def _fail(root: Path, key: str, value: object, allowed: str) -> ManifestError:
    return ManifestError(
        f"{root / manifest.MANIFEST_NAME}: `environments.{key}` is {value!r}; {allowed}."
    )


def _text(root: Path, table: dict[str, Any], name: str, key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise _fail(root, f"{name}.{key}", value, "it must be a non-empty string")
    return value


def resolve(root: Path, name: str) -> GitOpsEnv:
    """The GitOps environment ``name``, validated; ManifestError naming the fix otherwise."""
    known = gitops_environments(root)
    table = known.get(name)
    if table is None:
        raise ManifestError(
            f"Environment `{name}` is not deployed by GitOps: {root / manifest.MANIFEST_NAME} "
            f"has GitOps environments {', '.join(sorted(known)) or 'none'} ([environments.NAME] "
            'with deploy = "gitops"). Pass one of those, or add the table.'
        )
    for key in table:
        if key not in _KEYS:
            raise _fail(root, f"{name}.{key}", table[key], f"allowed keys are {sorted(_KEYS)}")
    if table["deploy"] != GITOPS:
        raise _fail(root, f"{name}.deploy", table["deploy"], f"the only value is {GITOPS!r}")
    repository = _text(root, table, name, "repository", "")
    if repository != SANDBOX and not _URL.match(repository):
        raise _fail(
            root, f"{name}.repository", repository,
            f"use {SANDBOX!r} (the sandbox's GitOps repository) or an http(s):// or ssh git URL "
            "that Flux can fetch (file:// is refused by Flux)",
        )  # fmt: skip
    branch = _text(root, table, name, "branch", "main")
    if not _BRANCH.match(branch) or ".." in branch:
        raise _fail(root, f"{name}.branch", branch, "it must be a git branch name")
    path = _text(root, table, name, "path", f"clusters/{name}")
    if not _PATH.match(path) or ".." in path.split("/"):
        raise _fail(root, f"{name}.path", path, "it must be a relative folder such as clusters/dev")
    values = charts.check_env(_text(root, table, name, "helm", name))
    token_env = str(table.get("token_env", ""))
    if token_env and not repository.startswith("https://"):
        raise _fail(
            root, f"{name}.token_env", token_env, "a token is used for https repositories only"
        )
    timeout = _text(root, table, name, "timeout", "2m")
    if not _DURATION.match(timeout):
        raise _fail(root, f"{name}.timeout", timeout, "it must be a duration such as 90s or 2m")
    reconcile = _text(root, table, name, "reconcile", "1m")
    if not _DURATION.match(reconcile):
        raise _fail(root, f"{name}.reconcile", reconcile, "it must be a duration such as 30s or 5m")
    target = table.get("flux")
    if target not in (None, "local"):
        raise _fail(
            root, f"{name}.flux", target,
            "the only value is 'local' (the sandbox's cluster); leave it out for KUBECONFIG's",
        )  # fmt: skip
    namespace = f"ironcage-{name}"
    if target == "local":
        kube = Kube(cluster.kubeconfig_path(root), cluster.CONTEXT)
        return GitOpsEnv(
            name, repository, branch, path, values, namespace, kube, root, token_env, timeout,
            reconcile,
        )  # fmt: skip
    context = table.get("context")
    kube = Kube(None, str(context) if context else None)
    return GitOpsEnv(
        name, repository, branch, path, values, namespace, kube, None, token_env, timeout,
        reconcile,
    )  # fmt: skip
