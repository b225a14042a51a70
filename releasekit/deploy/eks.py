"""The kubeconfig of an environment's EKS cluster, named by its terraform outputs.

In a deploy job the cloud credentials come from the job's OIDC token (exported as the
standard AWS variables); `aws eks update-kubeconfig` then writes a kubeconfig whose current
context is that cluster, which `helm.deploy` and `health` use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from releasekit.core.errors import PreflightError
from releasekit.core.run import require_tool, run
from releasekit.deploy import terraform

__all__ = ["CLUSTER_OUTPUT", "kubeconfig_argv", "region", "write_kubeconfig"]

CLUSTER_OUTPUT = "cluster_name"
_AWS_HINT = (
    "Install the AWS CLI v2 (GitHub's Ubuntu runners carry it), or write the kubeconfig "
    "yourself and point KUBECONFIG at it."
)


def kubeconfig_argv(cluster: str, region_: str, path: Path | None = None) -> list[str]:
    """``aws eks update-kubeconfig`` for ``cluster`` (into ``path``, default ~/.kube/config)."""
    extra = ["--kubeconfig", str(path)] if path is not None else []
    return ["aws", "eks", "update-kubeconfig", "--name", cluster, "--region", region_, *extra]


def region(chosen: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``chosen``, else AWS_REGION, else AWS_DEFAULT_REGION; PreflightError when none is set."""
    env = os.environ if environ is None else environ
    found = chosen or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not found:
        raise PreflightError(
            "No AWS region: pass --region, or set AWS_REGION (the credentials step of the "
            "deploy workflow sets it from the CLOUD_REGION variable)."
        )
    return found


def write_kubeconfig(
    module: Path, env: str, cwd: Path, region_: str, path: Path | None = None
) -> str:
    """Write the kubeconfig of ``env``'s cluster (its terraform output); the cluster name."""
    terraform.init(module, cwd, env)
    outputs = terraform.output(module, cwd)
    cluster = outputs.get(CLUSTER_OUTPUT)
    if not isinstance(cluster, str) or not cluster:
        raise PreflightError(
            f"{module} has no `{CLUSTER_OUTPUT}` output in its state (outputs: "
            f"{', '.join(sorted(outputs)) or 'none'}): apply the environment first "
            f"(`invoke tf.apply --env {env}`), or name the cluster in an output "
            f"`{CLUSTER_OUTPUT}`."
        )
    aws = require_tool("aws", _AWS_HINT)
    run([aws, *kubeconfig_argv(cluster, region_, path)[1:]])
    return cluster
