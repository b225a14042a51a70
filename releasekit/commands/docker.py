"""Tasks of the `docker` namespace: smoke-test the built images and push them to a registry."""

from __future__ import annotations

import os

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import console, emit_json, lazy_console, load_workspace, reported

__all__ = ["ns"]

REGISTRY_ENV = "RELEASEKIT_REGISTRY"
_progress_console = lazy_console(stderr=True, highlight=False)


def _say(message: str) -> None:
    _progress_console.print(f"[bold]>[/] {message}", highlight=False, markup=False)


@task(
    help={
        "registry": f"Registry as HOST[:PORT][/NAMESPACE] (default: ${REGISTRY_ENV}); "
        "the namespace defaults to ironcage.",
        "package": "Push only the images of this package, e.g. control-panel.",
        "json": "Print the pushed repositories, tags and digests as JSON.",
    }
)
def push(
    c: Context, registry: str | None = None, package: str | None = None, json: bool = False
) -> None:
    """Push every tag of the built images and record digests in dist/<version>/images.json."""
    from rich.table import Table

    from releasekit.build import artifacts
    from releasekit.core.errors import PreflightError
    from releasekit.publish.registry import push_images

    with reported():
        target = registry or os.environ.get(REGISTRY_ENV, "")
        if not target:
            raise PreflightError(
                f"No registry to push to: pass --registry HOST[:PORT][/NAMESPACE] or set "
                f"{REGISTRY_ENV} (for the sandbox: the registry `invoke sandbox.up` started)."
            )
        ws = load_workspace()
        packages = [package] if package else None
        version = artifacts.dist_version(ws, packages)
        results = push_images(ws, version, target, packages=packages, progress=_say)
        if json:
            emit_json(
                {
                    r.name: {
                        "repository": r.repository,
                        "tags": list(r.tags),
                        "digest": r.digest,
                        "status": r.status,
                    }
                    for r in results
                }
            )
            return
        table = Table(title=f"Images {version} pushed to {target}")
        for column in ("image", "repository", "tags", "digest", "status"):
            table.add_column(column, overflow="fold")
        for r in results:
            colour = "green" if r.status == "pushed" else "cyan"
            table.add_row(
                r.name, r.repository, ", ".join(r.tags), r.digest[:19], f"[{colour}]{r.status}[/]"
            )
        console.print(table)


@task(help={"image": "Smoke-test only this image, e.g. control-panel-web (default: all)."})
def smoke(c: Context, image: str | None = None) -> None:
    """Run each built image, wait for /health and its HEALTHCHECK, check it is not root."""
    from rich.table import Table

    from releasekit.build import artifacts, images

    with reported():
        ws = load_workspace()
        version = artifacts.dist_version(ws)
        chosen = images.specs(ws, images=[image] if image else None)
        client = images.connect()
        table = Table(title=f"Smoke tests of the images {version}")
        for column in ("image", "user", "checks"):
            table.add_column(column, overflow="fold")
        for spec in chosen:
            _say(f"smoke {spec.repository}:{version}")
            result = images.smoke_image(spec.name, version, client=client)
            table.add_row(result.ref, result.user, ", ".join(result.checks))
        console.print(table)


ns = Collection("docker", push, smoke)
