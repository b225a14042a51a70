"""`invoke sign.keyless`: the registry-native signatures of a release where OIDC exists."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import console, load_workspace, reported

__all__ = ["ns"]


@task(name="keyless", help={"version": "The released version (default: the workspace's version)."})
def keyless_task(c: Context, version: str | None = None) -> None:
    """Sign the release's images keylessly with the job's OIDC identity (GitHub Actions)."""
    from rich.markup import escape

    from releasekit.core import version as versions
    from releasekit.publish import keyless

    with reported():
        ws = load_workspace()
        chosen = version or next(iter(versions.check(ws).values()))
        keyless.sign_images(
            ws.root,
            chosen,
            say=lambda line: console.print(escape(line)),
            targets=ws.manifest.targets,
        )


ns = Collection("sign")
ns.add_task(keyless_task)
