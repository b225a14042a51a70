"""The packages of the monorepo and their internal dependency graph.

Edges come from each package's own ``[project].dependencies``: a requirement naming the
distribution of another package of the monorepo is an internal dependency.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from releasekit.core import git
from releasekit.core.errors import GraphError, ManifestError
from releasekit.core.manifest import Manifest, PackageSpec

__all__ = ["SANDBOX_ENV", "TESTBED_DIR", "Package", "Workspace", "load", "sandbox_home"]

# The local testbed (registry, index, git remote, cluster) lives here under the root.
TESTBED_DIR = ".sandbox"
# Points a clone at another clone's sandbox (registry, index, git remote, keys), so several
# clones, as several runners, share one.
SANDBOX_ENV = "RELEASEKIT_SANDBOX"


def sandbox_home(root: Path) -> Path:
    """The sandbox's folder: ``$RELEASEKIT_SANDBOX`` when set, else ``root/.sandbox``."""
    shared = os.environ.get(SANDBOX_ENV, "").strip()
    return Path(shared).expanduser().resolve() if shared else root / TESTBED_DIR


@dataclass(frozen=True)
class Package:
    """A package: its manifest entry, its folder, and the internal packages it needs."""

    spec: PackageSpec
    root: Path
    deps: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dir(self) -> Path:
        return self.root / self.spec.path

    @property
    def pyproject(self) -> Path:
        return self.dir / "pyproject.toml"

    def owns(self, relpath: str) -> bool:
        """Whether a repository-relative path belongs to this package's inputs."""
        for prefix in (self.spec.path, *self.spec.paths):
            prefix = prefix.rstrip("/")
            if relpath == prefix or relpath.startswith(prefix + "/"):
                return True
        return False


@dataclass(frozen=True)
class Workspace:
    """All packages, in manifest order, with the graph helpers."""

    manifest: Manifest
    packages: tuple[Package, ...]

    @property
    def root(self) -> Path:
        return self.manifest.root

    def get(self, name: str) -> Package:
        """The package ``name``; ManifestError naming the known packages otherwise."""
        spec = self.manifest.package(name)
        return next(p for p in self.packages if p.spec is spec)

    def edges(self) -> list[tuple[str, str]]:
        """``(dependent, dependency)`` pairs."""
        return [(p.name, d) for p in self.packages for d in p.deps]

    def order(self) -> list[str]:
        """Package names, dependencies before their dependents (ties in manifest order)."""
        sorter: TopologicalSorter[str] = TopologicalSorter()
        for pkg in self.packages:
            sorter.add(pkg.name, *pkg.deps)
        position = {p.name: i for i, p in enumerate(self.packages)}
        try:
            sorter.prepare()
        except CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise GraphError(
                f"The packages depend on each other in a cycle: {cycle}. Remove one of those "
                "dependencies from its pyproject.toml."
            ) from None
        result: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            result.extend(ready)
            sorter.done(*ready)
        return result

    def closure(self, *names: str, dependents: bool = False) -> list[str]:
        """``names`` and every internal package they depend on, directly or not, in order.

        With ``dependents``, the walk goes the other way: ``names`` and every package that
        depends on them. The order is ``order()``'s: dependencies before their dependents.
        """
        for name in names:
            self.get(name)  # an unknown name is a ManifestError naming the known ones
        users: dict[str, list[str]] = {p.name: [] for p in self.packages}
        for pkg in self.packages:
            for dep in pkg.deps:
                users[dep].append(pkg.name)
        found: set[str] = set()
        frontier = list(names)
        while frontier:
            current = frontier.pop()
            if current not in found:
                found.add(current)
                frontier.extend(users[current] if dependents else self.get(current).deps)
        return [n for n in self.order() if n in found]

    def dependents(self, name: str) -> set[str]:
        """Every package that depends on ``name``, directly or not."""
        return set(self.closure(name, dependents=True)) - {name}

    def owners(self, paths: list[str]) -> set[str]:
        """The packages whose inputs include any of ``paths``."""
        return {p.name for p in self.packages for path in paths if p.owns(path)}

    def affected(self, since: str) -> list[str]:
        """Packages changed since ``since`` plus everything that depends on them, in order."""
        changed = self.owners(git.changed_files(self.root, since))
        return self.closure(*sorted(changed), dependents=True)


def load(manifest: Manifest) -> Workspace:
    """Read every package's pyproject.toml and build the workspace."""
    by_dist = {canonicalize_name(p.dist): p.name for p in manifest.packages}
    packages = []
    for spec in manifest.packages:
        pyproject = manifest.root / spec.path / "pyproject.toml"
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(f"{pyproject} is not valid TOML: {exc}. Fix the syntax.") from None
        project = data.get("project", {})
        dist = project.get("name")
        if dist is None or canonicalize_name(str(dist)) != canonicalize_name(spec.dist):
            raise ManifestError(
                f"{pyproject}: `project.name` is {dist!r} but {manifest.path} says dist = "
                f"{spec.dist!r} for package `{spec.name}`. Make the two agree."
            )
        deps = []
        for requirement in project.get("dependencies", []):
            try:
                required = canonicalize_name(Requirement(requirement).name)
            except InvalidRequirement as exc:
                raise ManifestError(
                    f"{pyproject}: dependency {requirement!r} is not a valid requirement "
                    f"({exc}). Write it as PEP 508 says, e.g. `name>=1.0`."
                ) from None
            if required in by_dist:
                dep = by_dist[required]
                if dep == spec.name:
                    raise GraphError(f"{pyproject}: package `{dep}` depends on itself. Remove it.")
                deps.append(dep)
        packages.append(Package(spec=spec, root=manifest.root, deps=tuple(deps)))
    return Workspace(manifest=manifest, packages=tuple(packages))
