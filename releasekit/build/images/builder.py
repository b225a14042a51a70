"""The builder images are built on: their bases as OCI layouts, the BuildKit daemon, and
the platforms of release.toml it can build (a machine without QEMU builds its own only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from releasekit.build.images import buildkit, layout
from releasekit.build.images.buildkit import Daemon
from releasekit.build.images.spec import BaseArg, BaseImage, ImageSpec, resolve_base_images
from releasekit.core.errors import PreflightError
from releasekit.core.workspace import Workspace

if TYPE_CHECKING:
    from docker.client import DockerClient

__all__ = ["Builder", "builder"]


@dataclass(frozen=True)
class Builder:
    """What every build of some images shares, whatever the commit."""

    bases: Mapping[BaseArg, BaseImage]
    daemon: Daemon
    layouts: Mapping[BaseArg, layout.LocalBase]
    platforms: tuple[str, ...]


def builder(
    ws: Workspace,
    chosen: Sequence[ImageSpec],
    client: DockerClient,
    hosts: Sequence[str] = (),
    say: Callable[[str], None] = lambda _msg: None,
) -> Builder:
    """Resolve the bases of ``chosen``, start (or reuse) BuildKit with the plain-HTTP
    registries ``hosts``, and keep the platforms of release.toml it can build."""
    bases = resolve_base_images(
        client, sorted({s.base_arg for s in chosen}), pinned=ws.manifest.base_images
    )
    daemon = buildkit.ensure(ws.root, hosts)
    cache = layout.base_cache()
    layouts = {a: layout.base_layout(client, b.ref, b.id, cache) for a, b in bases.items()}
    workers = buildkit.platforms(daemon)
    held = [set(b.platforms) for b in layouts.values()]
    can = workers.intersection(*held)
    wanted = ws.manifest.platforms
    platforms = tuple(p for p in wanted if p in can)
    missing = [p for p in wanted if p not in can]
    for name in missing:
        why = (
            f"BuildKit at {daemon.address} lists only {', '.join(sorted(workers))} (no QEMU "
            f"binfmt handler for it: /proc/sys/fs/binfmt_misc/qemu-aarch64; scripts/setup.sh "
            "registers it)"
            if name not in workers
            else "a base image lacks it (rebuild the local bases for both platforms)"
        )
        say(
            f"images: cannot build {name} here: {why}; building only "
            f"{', '.join(platforms) or 'nothing'}"
        )
    if not platforms:
        raise PreflightError(
            f"No platform of {ws.manifest.path} ({', '.join(wanted)}) can be built here: "
            "register QEMU's binfmt handlers (scripts/setup.sh as root) or narrow "
            "`platforms` in [release], or point BUILDKIT_HOST at a builder that can."
        )
    return Builder(bases, daemon, layouts, platforms)
