"""Build the images with BuildKit, skipping those whose inputs did not change.

Before a build the host prepares what the Dockerfile copies (``images.context``): the
wheels of the image's Python distributions in ``build/wheelhouse/<image>/`` and, for the
site image, the rendered site in ``build/site/<package>/``. The build itself never reaches
an index. Cache key ``image:<image>``: the package files (and its internal dependencies'),
the Dockerfile, the nginx config, the base image, the platforms, the version, revision and
``SOURCE_DATE_EPOCH``, and the sha256 of every wheel taken from the Python build.

BuildKit builds every platform of release.toml's ``platforms`` that this builder can (a
platform it cannot is named, and left out) into one OCI index, with ``SOURCE_DATE_EPOCH``
of the release commit and ``rewrite-timestamp``: the same commit gives the same digest on
any machine. The digests are recorded (``records``) before anything is pushed; then, with
the release's registry (``registry``) reachable, the image is pushed there by digest and the
registry cache (``<registry>/<namespace>/cache/<image>``) is imported and exported
(``remote_cache``). The host platform's image is loaded into Docker Engine (tagged
``ironcage/<image>:<tag>``) when its SBOM is to be written; smoke tests load what they start.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from releasekit.build import artifacts
from releasekit.build.artifacts import Progress, Status
from releasekit.build.cache import Cache, inputs_hash
from releasekit.build.images import buildkit, context, layout, records
from releasekit.build.images import buildkit_image as bk
from releasekit.build.images.adopt import Source
from releasekit.build.images.builder import builder
from releasekit.build.images.buildkit import Daemon
from releasekit.build.images.sbom import sbom_path, subject_id, write_sbom
from releasekit.build.images.spec import (
    BaseArg,
    BaseImage,
    ImageSpec,
    connect,
    specs,
    tags_for,
)
from releasekit.core import git, http
from releasekit.core.errors import HttpError, PreflightError
from releasekit.core.files import file_sha256
from releasekit.core.version import python_version
from releasekit.core.workspace import Workspace

if TYPE_CHECKING:
    from docker.client import DockerClient

__all__ = [
    "ImagePlan",
    "ImageResult",
    "build_image",
    "build_images",
    "load_platform",
    "plan",
    "prepare_context",
    "request_for",
]


@dataclass(frozen=True)
class ImageResult:
    """One image after ``build_images``: its digests, local tags, size and whether it was built.

    ``digest`` is the OCI index the tags name, ``platforms`` the (platform, manifest digest)
    pairs in it, ``image_id`` the host platform's config digest (its Docker Engine id) and
    ``repository`` where it was pushed by digest ("" when the registry was not reached).
    """

    name: str
    image_id: str
    tags: tuple[str, ...]
    size: int
    status: Status
    sbom: Path
    digest: str = ""
    repository: str = ""
    platforms: tuple[tuple[str, str], ...] = ()
    platform_sboms: tuple[Path, ...] = ()

    @property
    def key(self) -> str:
        """The build cache key, ``image:<name>``."""
        return f"image:{self.name}"

    @property
    def outputs(self) -> tuple[Path, ...]:
        """The files the build left in ``dist/<version>/``: the image's SBOM (its host
        platform's) and one per other platform."""
        return (self.sbom, *self.platform_sboms)


def prepare_context(
    ws: Workspace, spec: ImageSpec, version: str, epoch: str, progress: Progress | None = None
) -> None:
    """Put what ``spec``'s Dockerfile copies from ``build/`` in place (wheels, site)."""
    given = context.published_wheels(ws, spec, version, epoch)
    wheels, site = context.stage(ws, spec, version, epoch, given, progress)
    with context.CONTEXT_LOCK:
        context.put_in_place(ws, spec, wheels, site)


def _labels_args(ws: Workspace, spec: ImageSpec, version: str, epoch: str) -> dict[str, str]:
    pkg = ws.get(spec.package)
    project = _pyproject(pkg.pyproject)
    source = dict(project.get("urls", {})).get("Source", "")
    lic = project.get("license", {})
    licenses = lic.get("text", "") if isinstance(lic, dict) else str(lic)
    created = datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    args = {"VERSION": version, "REVISION": git.head(ws.root), "CREATED": created}
    if spec.dists:  # the pip requirement of the wheelhouse: PEP 440, as the wheels are named
        args["PYTHON_VERSION"] = python_version(version)
    if source:
        args["SOURCE"] = str(source)
    if licenses:
        args["LICENSES"] = str(licenses)
    return args


def _pyproject(path: Path) -> dict[str, Any]:
    return dict(tomllib.loads(path.read_text(encoding="utf-8")).get("project", {}))


@dataclass(frozen=True)
class ImagePlan:
    """What every image of one build shares: version, bases, tags, epoch, builder, registry."""

    version: str
    bases: Mapping[BaseArg, BaseImage]
    tags: tuple[str, ...]
    epoch: str
    revision: str
    daemon: Daemon
    platforms: tuple[str, ...]
    layouts: Mapping[BaseArg, layout.LocalBase]
    registry: Source | None = None
    remote_cache: bool = True


def _reachable(source: Source) -> bool:
    scheme = "http" if buildkit.insecure(source.host) else "https"
    try:
        answer = http.get(f"{scheme}://{source.host}/v2/", timeout=3, retries=0)
    except HttpError:
        return False
    return answer.status < 500


def plan(
    ws: Workspace,
    version: str,
    chosen: Sequence[ImageSpec],
    client: DockerClient,
    *,
    registry: Source | None = None,
    remote_cache: bool = True,
    progress: Progress | None = None,
) -> ImagePlan:
    """Resolve bases, tags, the builder and the platforms it can build for ``chosen``."""
    say = progress or (lambda _msg: None)
    revision = git.head(ws.root)
    tags = tags_for(version, revision[:7], git.released_versions(ws.root))
    epoch = artifacts.source_date_epoch(ws.root)
    if registry is not None and not _reachable(registry):
        say(f"images: the registry {registry.host} does not answer: nothing is pushed or cached")
        registry = None
    hosts = [registry.host] if registry is not None else []
    found = builder(ws, chosen, client, hosts, say)
    return ImagePlan(
        version, dict(found.bases), tuple(tags), epoch, revision, found.daemon, found.platforms,
        found.layouts, registry, remote_cache,
    )  # fmt: skip


def request_for(ws: Workspace, planned: ImagePlan, spec: ImageSpec) -> bk.Request:
    """The BuildKit request of ``spec`` in ``planned``."""
    base = planned.bases[spec.base_arg]
    args = {**_labels_args(ws, spec, planned.version, planned.epoch), **spec.build_args}
    args[spec.base_arg] = base.ref
    cache, insecure, auth = "", False, None
    if planned.registry is not None:
        source = planned.registry
        login = source.auth or {}
        if login.get("username"):
            user, password = str(login["username"]), str(login.get("password", ""))
            auth = buildkit.Credentials(source.host, user, password)
        if planned.remote_cache:
            cache = bk.cache_ref(source.host, source.namespace, spec.name)
            insecure = buildkit.insecure(source.host)
    return bk.Request(
        spec, args, planned.epoch, planned.platforms, (planned.layouts[spec.base_arg],),
        cache, insecure, auth=auth,
    )  # fmt: skip


def load_platform(
    ws: Workspace, planned: ImagePlan, spec: ImageSpec, record: records.ImageRecord,
    platform: str, client: DockerClient, progress: Progress | None = None,
) -> str:  # fmt: skip
    """Load ``platform``'s image of ``record`` into Docker Engine; its local ref."""
    host = platform == buildkit.host_platform()
    tag = planned.version if host else f"{planned.version}-{platform.rpartition('/')[2]}"
    ref = f"{spec.repository}:{tag}"
    config = record.config(platform)
    import docker.errors

    try:
        present = client.images.get(ref).id == config
    except docker.errors.APIError:  # not there (ImageNotFound) or unreadable: load it
        present = False
    if not present:
        if progress is not None:
            progress(f"image:{spec.name} loading {platform} into Docker Engine")
        req = request_for(ws, planned, spec)
        if not bk.load_layout(ws.root, req, config, ref):  # the build's layout is gone
            if not (ws.root / req.context).is_dir():
                prepare_context(ws, spec, planned.version, planned.epoch, progress)
                with context.CONTEXT_LOCK:
                    bk.stage_context(ws.root, spec, ws.root / req.context, planned.epoch)
            bk.load(planned.daemon, ws.root, req, platform, ref)
        loaded = client.images.get(ref).id
        if loaded != config:
            raise PreflightError(
                f"Docker Engine loaded {ref} as {loaded}, but the build recorded {config} for "
                f"{spec.name} ({platform}) in {records.record_path(ws.root, spec.name)}. Build "
                "again with `invoke build --force`."
            )
    return ref


def _inputs(ws: Workspace, planned: ImagePlan, spec: ImageSpec, given: Mapping[str, Path]) -> str:
    base = planned.layouts[spec.base_arg]
    return inputs_hash(
        ws,
        spec.package,
        extra_files=spec.input_files(ws.root),
        extra={
            "dockerfile": (ws.root / spec.dockerfile).read_text(encoding="utf-8"),
            "base": base.digest,
            "platforms": ",".join(planned.platforms),
            "version": planned.version,
            "revision": planned.revision,
            "source_date_epoch": planned.epoch,
            **{f"wheel {p.name}": file_sha256(p) for p in given.values()},
        },
    )


def build_image(
    ws: Workspace,
    planned: ImagePlan,
    spec: ImageSpec,
    *,
    client: DockerClient,
    wheels: Mapping[str, Path] | None = None,
    force: bool = False,
    nocache: bool = False,
    progress: Progress | None = None,
) -> ImageResult:
    """Build ``spec`` unless its inputs are unchanged; record its digests, push, SBOM it.

    ``wheels`` are the wheels of ``spec.dists`` the Python build made, by distribution
    (default: the fresh published ones); the image installs those, and builds the others.
    """
    say = progress or (lambda _msg: None)
    version, epoch, key = planned.version, planned.epoch, f"image:{spec.name}"
    given = context.published_wheels(ws, spec, version, epoch) if wheels is None else wheels
    given = {d: p for d, p in given.items() if d in spec.dists}
    inputs = _inputs(ws, planned, spec, given)
    cache = Cache(ws.root)
    record = records.read_record(ws.root, spec.name, version)
    fresh = record is not None and cache.fresh(key, inputs) is not None
    status: Status = "up to date"
    req = request_for(ws, planned, spec)
    if record is None or not fresh or force or nocache:
        status = "built"
        say(f"{key} building {', '.join(planned.platforms)} from {spec.dockerfile}")
        staged, site = context.stage(ws, spec, version, epoch, given, say)
        with context.CONTEXT_LOCK:
            context.put_in_place(ws, spec, staged, site)
            bk.stage_context(ws.root, spec, ws.root / req.context, planned.epoch)
        index = bk.build_layout(planned.daemon, ws.root, req, nocache=nocache)
        say(f"{key} {buildkit.summary((ws.root / req.log).read_text(errors='replace'))}")
        platforms = tuple((i.platform, i.manifest, i.config) for i in index.images)
        base = planned.bases[spec.base_arg].ref
        record = records.ImageRecord(spec.name, version, index.digest, platforms, base)
        cache.record(key, inputs, [records.write_record(ws.root, record)])
        say(f"{key} {index.digest}")
    if planned.registry is not None:
        repository = planned.registry.repository(spec.name)
        if repository not in record.pushed:
            say(f"{key} pushing {repository}@{record.digest}")
            bk.push_by_digest(planned.daemon, ws.root, req, repository, record.digest)
            record = records.ImageRecord(
                record.name, record.version, record.digest, record.platforms, record.base,
                record.tags, (*record.pushed, repository),
            )  # fmt: skip
            cache.record(key, inputs, [records.write_record(ws.root, record)])
    host = buildkit.host_platform()
    bom = sbom_path(ws.root, spec.name, version)
    full_tags = tuple(f"{spec.repository}:{t}" for t in planned.tags)
    size, image_id = 0, record.config(host)
    if image_id and (status == "built" or subject_id(bom) != image_id):
        ref = load_platform(ws, planned, spec, record, host, client, say)
        image = client.images.get(ref)
        for tag in planned.tags:
            image.tag(spec.repository, tag)
        write_sbom(client, image, spec.name, version, bom, timestamp=int(epoch))
        size = int(image.attrs["Size"])
    others = []
    for platform, _, config in record.platforms:
        if platform == host:
            continue
        others.append(sbom_path(ws.root, spec.name, version, platform))
        if status == "built" or subject_id(others[-1]) != config:
            ref = load_platform(ws, planned, spec, record, platform, client, say)
            say(f"{key} SBOM of {platform}")
            write_sbom(client, client.images.get(ref), spec.name, version, others[-1],
                       timestamp=int(epoch))  # fmt: skip
    say(f"{key} {status}")
    repository = planned.registry.repository(spec.name) if planned.registry else ""
    pairs = tuple((p, m) for p, m, _ in record.platforms)
    return ImageResult(
        spec.name, image_id, full_tags, size, status, bom, record.digest, repository, pairs,
        tuple(others),
    )  # fmt: skip


def build_images(
    ws: Workspace,
    version: str,
    *,
    packages: Sequence[str] | None = None,
    images: Sequence[str] | None = None,
    force: bool = False,
    nocache: bool = False,
    progress: Progress | None = None,
    client: DockerClient | None = None,
    registry: Source | None = None,
    remote_cache: bool = True,
) -> list[ImageResult]:
    """Build every image of ``packages`` (default all) whose inputs changed; record and SBOM it.

    Tags: ``ironcage/<image>:<tag>`` for each of ``tags_for(version, HEAD)``. ``force``
    rebuilds all; ``nocache`` also bypasses BuildKit's cache. With ``registry``, each image
    is pushed there by digest and ``remote_cache`` shares BuildKit's cache through it.
    """
    client = client or connect()
    chosen = specs(ws, packages, images)
    planned = plan(
        ws, version, chosen, client, registry=registry, remote_cache=remote_cache,
        progress=progress,
    )  # fmt: skip
    return [
        build_image(
            ws, planned, spec, client=client, force=force, nocache=nocache, progress=progress
        )
        for spec in chosen
    ]
