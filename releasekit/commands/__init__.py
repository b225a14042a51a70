"""The invoke namespaces: the only part of the engine that imports invoke."""

from __future__ import annotations

from invoke.collection import Collection

from releasekit.commands import repo, version

__all__ = ["namespace"]


def namespace() -> Collection:
    """The root collection tasks.py exposes."""
    ns = Collection()
    ns.add_task(repo.changelog)
    ns.add_task(repo.graph)
    ns.add_task(repo.doctor)
    ns.add_collection(version.ns)
    return ns
