"""One image through BuildKit: built into an OCI layout, pushed by digest, loaded into Docker.

An image is built three times from the same request, each after the first fully cached:

1. ``build_layout``: every platform into ``build/images/<image>/oci`` (an OCI layout), with
   the registry cache imported and exported. Nothing is pushed; the layout's index digest
   (the digest the tags will name) and each platform's manifest digest are recorded first.
2. ``push_by_digest``: the same image to ``<registry>/<namespace>/<image>``, untagged; the
   registry then holds it for any machine to tag.
3. ``load``: one platform as a Docker archive into Docker Engine, for a smoke test or
   compose; the loaded image's id is that platform's config digest. ``load_layout`` does
   the same from the layout of step 1 without BuildKit, while that layout is there.

The build context is a folder of its own per image (``build/images/<image>/context``), so
builds of several images run side by side without one reading what another rewrites.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from releasekit.build.images import buildkit, layout
from releasekit.build.images.bases import LocalBase
from releasekit.build.images.buildkit import Daemon
from releasekit.build.images.layout import Index, read_index
from releasekit.build.images.spec import ImageSpec
from releasekit.core.errors import ConflictError, ToolError
from releasekit.core.run import run

if TYPE_CHECKING:
    from docker.client import DockerClient

__all__ = [
    "Request",
    "build_argv",
    "build_layout",
    "build_one",
    "cache_ref",
    "load",
    "load_layout",
    "push_by_digest",
    "stage_context",
]

_CONTEXT_PATHS = ("docker/nginx", "packages/control-panel/web", ".dockerignore")


@dataclass(frozen=True)
class Request:
    """What one image build is: its spec, build arguments, platforms, bases and cache."""

    spec: ImageSpec
    args: Mapping[str, str]
    epoch: str
    platforms: tuple[str, ...]
    bases: tuple[LocalBase, ...] = ()
    cache: str = ""
    cache_insecure: bool = False
    folder: Path = field(default=Path("build/images"))
    auth: buildkit.Credentials | None = field(default=None, repr=False)
    """The login to the release's registry (its cache and by-digest pushes), when it has one."""

    @property
    def context(self) -> Path:
        return self.folder / self.spec.name / "context"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.spec.name}.log"


def cache_ref(host: str, namespace: str, image: str) -> str:
    """The registry cache of ``image``: ``<host>/<namespace>/cache/<image>``."""
    return f"{host}/{namespace}/cache/{image}"


def stage_context(
    root: Path, spec: ImageSpec, dest: Path, epoch: str, paths: Sequence[str] | None = None
) -> Path:
    """Copy what ``spec``'s Dockerfile may COPY from the repository into ``dest``.

    Every file and folder gets mode 644 or 755 (whatever the umask of the checkout) and the
    time ``epoch``: ``rewrite-timestamp`` only clamps times newer than SOURCE_DATE_EPOCH, so
    an older one (a file checked out before the commit was made) would reach the layers.
    ``paths`` replaces the default list (what the image's Dockerfile may copy).
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    wanted = paths or [
        *_CONTEXT_PATHS,
        f"build/wheelhouse/{spec.name}",
        f"build/site/{spec.package}",
    ]
    for rel in wanted:
        source = root / rel
        if source.is_dir():
            shutil.copytree(source, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    stamp = int(epoch)
    for path in sorted(dest.rglob("*"), reverse=True):
        if not path.is_symlink():  # modes as git checks out, whatever the umask
            path.chmod(0o755 if path.is_dir() or path.stat().st_mode & 0o100 else 0o644)
        os.utime(path, (stamp, stamp), follow_symlinks=False)
    os.utime(dest, (stamp, stamp))
    return dest


def build_argv(
    root: Path,
    req: Request,
    platforms: Sequence[str],
    *,
    context: Path | None = None,
    target: str = "",
) -> list[str]:
    """The ``buildctl build`` arguments of ``req`` for ``platforms`` (no output): its
    Dockerfile and build arguments, its bases as named OCI layout contexts; ``context``
    replaces the staged build context, ``target`` the stage built."""
    dockerfile = root / req.spec.dockerfile
    argv = [
        "--frontend", "dockerfile.v0",
        "--local", f"context={context or root / req.context}",
        "--local", f"dockerfile={dockerfile.parent}",
        "--opt", f"filename={dockerfile.name}",
        "--opt", f"platform={','.join(platforms)}",
        "--opt", f"build-arg:SOURCE_DATE_EPOCH={req.epoch}",
    ]  # fmt: skip
    for key, value in sorted(req.args.items()):
        argv += ["--opt", f"build-arg:{key}={value}"]
    if target or req.spec.target:
        argv += ["--opt", f"target={target or req.spec.target}"]
    for number, base in enumerate(req.bases):
        name = f"base{number}"
        argv += ["--oci-layout", f"{name}={base.layout}"]
        argv += ["--opt", f"context:{base.ref}=oci-layout://{name}@{base.digest}"]
    return argv


def _insecure(req: Request) -> str:
    return ",registry.insecure=true" if req.cache_insecure else ""


def build_layout(daemon: Daemon, root: Path, req: Request, *, nocache: bool = False) -> Index:
    """Build every platform of ``req`` into ``<folder>/<image>/oci``; its index."""
    dest = root / req.folder / req.spec.name / "oci"
    if dest.exists():
        shutil.rmtree(dest)
    (root / req.log).unlink(missing_ok=True)
    argv = build_argv(root, req, req.platforms)
    argv += ["--output", f"type=oci,dest={dest},tar=false,rewrite-timestamp=true"]
    if req.cache:
        argv += ["--import-cache", f"type=registry,ref={req.cache}{_insecure(req)}"]
        argv += ["--export-cache", f"type=registry,ref={req.cache},mode=max{_insecure(req)}"]
    if nocache:
        argv += ["--no-cache"]
    meta = buildkit.build(
        daemon,
        argv,
        metadata=root / req.folder / req.spec.name / "metadata.json",
        log=root / req.log,
        what=f"The image {req.spec.name}",
        hint=f"Fix {req.spec.dockerfile} (or the files its failing step copies) and build again.",
        auth=req.auth,
    )
    index = read_index(dest)
    reported = str(meta.get("containerimage.digest", index.digest))
    if reported != index.digest:
        raise ToolError(
            ["buildctl", "build"],
            0,
            "",
            f"BuildKit reported {reported} for {req.spec.name}, but {dest}/index.json names "
            f"{index.digest}. Build again with `invoke build --force`.",
        )
    return index


def push_by_digest(daemon: Daemon, root: Path, req: Request, repository: str, digest: str) -> None:
    """Push the built image, untagged, to ``repository``; ConflictError on another digest."""
    insecure = ",registry.insecure=true" if buildkit.insecure(repository.split("/")[0]) else ""
    argv = build_argv(root, req, req.platforms)
    argv += [
        "--output",
        f"type=image,name={repository},push=true,push-by-digest=true,"
        f"rewrite-timestamp=true{insecure}",
    ]
    if req.cache:  # a machine that did not build it reuses what the build exported
        argv += ["--import-cache", f"type=registry,ref={req.cache}{_insecure(req)}"]
    meta = buildkit.build(
        daemon,
        argv,
        metadata=root / req.folder / req.spec.name / "push.json",
        log=root / req.log,
        what=f"Pushing {req.spec.name} to {repository}",
        hint="Check that the registry runs and accepts pushes (and its credentials).",
        auth=req.auth,
    )
    pushed = str(meta.get("containerimage.digest", ""))
    if pushed != digest:
        raise ConflictError(
            f"BuildKit pushed {repository}@{pushed} for {req.spec.name}, but the build "
            f"recorded {digest}: the same inputs gave another image. Build again from an "
            "empty state (`invoke build.buildkit --stop`, then `invoke build --force`) and "
            "compare."
        )


def load(daemon: Daemon, root: Path, req: Request, platform: str, name: str) -> None:
    """Load ``platform``'s image into Docker Engine as ``name`` (a Docker archive)."""
    archive = root / req.folder / req.spec.name / f"{platform.replace('/', '-')}.tar"
    argv = build_argv(root, req, [platform])
    argv += ["--output", f"type=docker,name={name},dest={archive},rewrite-timestamp=true"]
    try:
        buildkit.build(
            daemon,
            argv,
            metadata=root / req.folder / req.spec.name / "load.json",
            log=root / req.log,
            what=f"Exporting {req.spec.name} ({platform}) for Docker",
            hint="Build again; the image itself built.",
        )
        _docker_load(archive, name)
    finally:
        archive.unlink(missing_ok=True)


def _docker_load(archive: Path, name: str) -> None:
    run(
        ["docker", "load", "-i", str(archive)],
        quiet=True,
        hint=f"Docker Engine refused the archive of {name}; check `docker info`.",
    )


def load_layout(root: Path, req: Request, config: str, name: str) -> bool:
    """Load the image of the build's OCI layout whose config is ``config`` into Docker
    Engine as ``name``, without BuildKit; False when the layout does not hold it."""
    folder = root / req.folder / req.spec.name
    archive = folder / f"load-{config.removeprefix('sha256:')[:12]}.tar"
    try:
        if not layout.docker_archive(folder / "oci", config, name, archive):
            return False
        _docker_load(archive, name)
    finally:
        archive.unlink(missing_ok=True)
    return True


def build_one(
    client: DockerClient, root: Path, spec: ImageSpec, tag: str, args: Mapping[str, str]
) -> str:
    """Build ``spec`` for this machine's platform and load it into Docker Engine as ``tag``.

    For a Dockerfile outside release.toml (a comparison build): its context holds every
    wheelhouse and site of ``build/``; its base is ``args[spec.base_arg]``, a Docker Engine
    image. Returns the loaded image's id.
    """
    daemon = buildkit.ensure(root)
    bases: tuple[LocalBase, ...] = ()
    if args.get(spec.base_arg):
        ref = args[spec.base_arg]
        base_id = str(client.images.get(ref).id)
        bases = (layout.base_layout(client, ref, base_id, layout.base_cache()),)
    epoch = args.get("SOURCE_DATE_EPOCH", "0")
    host = buildkit.host_platform()
    req = Request(spec, args, epoch, (host,), bases)
    paths = [*_CONTEXT_PATHS, "build/wheelhouse", "build/site"]
    stage_context(root, spec, root / req.context, epoch, paths)
    load(daemon, root, req, host, tag)
    return str(client.images.get(tag).id)
