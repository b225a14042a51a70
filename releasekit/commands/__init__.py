"""commands: the invoke namespaces, the only part of the engine that imports invoke.

Each module parses flags, calls the layers below and prints; no logic worth testing lives
here. Imports: every other layer.
"""

from __future__ import annotations

from invoke.collection import Collection

from releasekit.commands import (
    build,
    check,
    cluster,
    deploy,
    deps,
    docker,
    gitops,
    helm,
    release,
    repo,
    sandbox,
    sign,
    tf,
    verify,
    version,
)

__all__ = ["namespace"]


def namespace() -> Collection:
    """The root collection tasks.py exposes."""
    ns = Collection()
    ns.add_task(repo.changelog)
    ns.add_task(repo.graph)
    ns.add_task(repo.doctor)
    ns.add_task(check.check)
    ns.add_collection(version.ns)
    ns.add_collection(deps.ns)
    ns.add_collection(build.ns)
    ns.add_collection(sandbox.ns)
    ns.add_collection(cluster.ns)
    ns.add_task(deploy.deploy)
    ns.add_task(deploy.health)
    ns.add_task(deploy.rollback)
    ns.add_task(gitops.promote)
    ns.add_collection(gitops.ns)
    ns.add_collection(helm.ns)
    ns.add_collection(tf.ns)
    ns.add_collection(docker.ns)
    ns.add_collection(release.ns)
    ns.add_collection(verify.ns)
    ns.add_collection(sign.ns)
    return ns
