"""Build the images through the docker SDK, skipping those whose inputs did not change.

Before a build the host prepares what the Dockerfile copies (``images.context``): the
wheels of the image's Python distributions in ``build/wheelhouse/<image>/`` and, for the
site image, the rendered site in ``build/site/<package>/``. The build itself never reaches
an index. Cache key ``image:<image>``: the package files (and its internal dependencies'),
the Dockerfile, the nginx config, the base image id, the version and revision, and the
sha256 of every wheel taken from the Python build (reproducible, so an unchanged wheel
keeps the key). The cache output is ``build/images/<image>.json`` (image id and tags),
valid while the image still exists; without it, a local image labelled with the same
inputs hash is the same image and is reused.

Given the release's registry (``registry``), an image the registry already holds for this
version, commit and inputs is adopted instead (``adopt``): pulled by digest, tagged with
the release's local tags and described by the SBOM, so the image the release smoke-tests
is the one it ships, never a rebuild with another id.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from releasekit.build import artifacts
from releasekit.build.artifacts import Progress, Status
from releasekit.build.cache import Cache, inputs_hash
from releasekit.build.images import context
from releasekit.build.images.adopt import Source, released_image
from releasekit.build.images.sbom import sbom_path, subject_id, write_sbom
from releasekit.build.images.spec import (
    INPUTS_LABEL,
    BaseArg,
    BaseImage,
    ImageSpec,
    connect,
    resolve_base_images,
    specs,
    tags_for,
)
from releasekit.core import git
from releasekit.core.errors import ToolError
from releasekit.core.files import file_sha256
from releasekit.core.run import check_cancelled
from releasekit.core.version import python_version
from releasekit.core.workspace import Workspace

if TYPE_CHECKING:
    from docker.client import DockerClient
    from docker.models.images import Image

__all__ = [
    "ImagePlan",
    "ImageResult",
    "build_image",
    "build_images",
    "build_one",
    "plan",
    "prepare_context",
]

_TAIL = 30


@dataclass(frozen=True)
class ImageResult:
    """One image after ``build_images``: its id, local tags, size and whether it was rebuilt.

    ``digest`` and ``repository`` are set when the image was adopted from the registry.
    """

    name: str
    image_id: str
    tags: tuple[str, ...]
    size: int
    status: Status
    sbom: Path
    digest: str = ""
    repository: str = ""

    @property
    def key(self) -> str:
        """The build cache key, ``image:<name>``."""
        return f"image:{self.name}"

    @property
    def outputs(self) -> tuple[Path, ...]:
        """The files the build left in ``dist/<version>/`` (the image's SBOM)."""
        return (self.sbom,)


def prepare_context(
    ws: Workspace, spec: ImageSpec, version: str, epoch: str, progress: Progress | None = None
) -> None:
    """Put what ``spec``'s Dockerfile copies from ``build/`` in place (wheels, site)."""
    given = context.published_wheels(ws, spec, version, epoch)
    wheels, site = context.stage(ws, spec, version, epoch, given, progress)
    with context.CONTEXT_LOCK:
        context.put_in_place(ws, spec, wheels, site)


def _equivalent_argv(spec: ImageSpec, tag: str, args: Mapping[str, str]) -> list[str]:
    argv = ["docker", "build", "-f", spec.dockerfile, "-t", tag]
    for key, value in sorted(args.items()):
        argv += ["--build-arg", f"{key}={value}"]
    if spec.target:
        argv += ["--target", spec.target]
    return [*argv, spec.context]


def build_one(
    client: DockerClient,
    root: Path,
    spec: ImageSpec,
    tag: str,
    args: Mapping[str, str],
    progress: Progress | None = None,
    log: Path | None = None,
    nocache: bool = False,
    labels: Mapping[str, str] | None = None,
    every_line: bool = False,
) -> str:
    """Build ``spec`` as ``tag`` with the classic builder; the image id.

    The build log streams to ``progress`` (one call per ``Step N/M`` line, or per line with
    ``every_line``) and to ``log``. The context upload holds ``context.CONTEXT_LOCK``. A
    failure raises ToolError naming the failing step with the tail of the log.
    """
    import docker.errors

    say = progress or (lambda _msg: None)
    lines: list[str] = []
    step = "(before the first step)"
    image_id: str | None = None
    argv = _equivalent_argv(spec, tag, args)
    error: str | None = None
    code: int | None = 1
    try:
        with context.CONTEXT_LOCK:
            stream: Iterable[dict[str, Any]] = client.api.build(
                path=str(root / spec.context),
                dockerfile=spec.dockerfile,
                tag=tag,
                buildargs=dict(args),
                target=spec.target,
                rm=True,
                forcerm=True,
                pull=False,
                nocache=nocache,
                labels=dict(labels or {}),
                decode=True,
            )
        for chunk in stream:
            check_cancelled()
            for line in str(chunk.get("stream", "")).splitlines():
                if not line.strip():
                    continue
                lines.append(line)
                if line.startswith("Step "):
                    step = line
                if every_line or line.startswith("Step "):
                    say(f"image:{spec.name} {line}")
            if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
            if "error" in chunk:
                error = str(chunk["error"]).strip()
                detail = chunk.get("errorDetail") or {}
                code = int(detail.get("code", 1)) if isinstance(detail, dict) else 1
                lines.append(error)
                if every_line:
                    say(f"image:{spec.name} {error}")
                break
    except docker.errors.APIError as exc:
        error = str(exc.explanation or exc)
        lines.append(error)
        if every_line:
            say(f"image:{spec.name} {error}")
    finally:
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if error is None and image_id is None:
        error = "the build stream ended without an image id"
    if error is not None:
        where = f" Full log: {log}." if log is not None else ""
        raise ToolError(
            argv,
            code,
            "\n".join(lines[-_TAIL:]),
            f"The image {spec.name} failed at {step}. Fix {spec.dockerfile} (or the files that "
            f"step copies) and build again.{where}",
        )
    return cast(str, image_id)


def _record_path(root: Path, name: str) -> Path:
    return root / "build" / "images" / f"{name}.json"


def _cached_image(client: DockerClient, record: Path) -> Image | None:
    """The local image a cache record names, or None when it is gone."""
    import docker.errors

    try:
        image_id = json.loads(record.read_text(encoding="utf-8"))["id"]
        return client.images.get(image_id)
    except (OSError, ValueError, KeyError, docker.errors.ImageNotFound):
        return None


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


def _tag_all(image: Image, repository: str, tags: Sequence[str]) -> tuple[str, ...]:
    for tag in tags:
        if f"{repository}:{tag}" not in image.tags:
            image.tag(repository, tag)
    return tuple(f"{repository}:{t}" for t in tags)


def _labelled(client: DockerClient, inputs: str) -> Image | None:
    """A local image built from ``inputs`` (its INPUTS_LABEL), or None."""
    import docker.errors

    try:
        found = client.images.list(filters={"label": f"{INPUTS_LABEL}={inputs}"})
    except docker.errors.APIError:
        return None
    return found[0] if found else None


@dataclass(frozen=True)
class ImagePlan:
    """What every image of one build shares: version, base images, tags, epoch, revision."""

    version: str
    bases: Mapping[BaseArg, BaseImage]
    tags: tuple[str, ...]
    epoch: str
    revision: str


def plan(
    ws: Workspace, version: str, chosen: Sequence[ImageSpec], client: DockerClient
) -> ImagePlan:
    """Resolve the base images of ``chosen`` and the tags of ``version`` at HEAD."""
    bases = resolve_base_images(
        client, sorted({s.base_arg for s in chosen}), pinned=ws.manifest.base_images
    )
    revision = git.head(ws.root)
    tags = tags_for(version, revision[:7], git.released_versions(ws.root))
    epoch = artifacts.source_date_epoch(ws.root)
    return ImagePlan(version, dict(bases), tuple(tags), epoch, revision)


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
    every_line: bool = False,
    registry: Source | None = None,
) -> ImageResult:
    """Build ``spec`` unless its inputs are unchanged; tag it and write its SBOM.

    ``wheels`` are the wheels of ``spec.dists`` the Python build made, by distribution
    (default: the fresh published ones); the image installs those, and builds the others.
    With ``registry``, the registry's image of this version, commit and inputs is adopted
    whenever it exists (even with ``force``): nothing is built.
    """
    say = progress or (lambda _msg: None)
    version, epoch = planned.version, planned.epoch
    given = context.published_wheels(ws, spec, version, epoch) if wheels is None else wheels
    given = {d: p for d, p in given.items() if d in spec.dists}
    base: BaseImage = planned.bases[spec.base_arg]
    key = f"image:{spec.name}"
    dockerfile = (ws.root / spec.dockerfile).read_text(encoding="utf-8")
    inputs = inputs_hash(
        ws,
        spec.package,
        extra_files=spec.input_files(ws.root),
        extra={
            "dockerfile": dockerfile,
            "base": base.id,
            "version": version,
            "revision": planned.revision,
            "source_date_epoch": epoch,
            **{f"wheel {p.name}": file_sha256(p) for p in given.values()},
        },
    )
    cache = Cache(ws.root)
    record = _record_path(ws.root, spec.name)
    image = None
    adopted = None
    if registry is not None:
        adopted = released_image(
            client, registry, spec, version, revision=planned.revision, inputs=inputs, progress=say
        )
    if adopted is not None:
        image = adopted.image
        say(f"{key} adopted {adopted.ref} from the registry")
    elif not (force or nocache):
        fresh = cache.fresh(key, inputs)
        image = _cached_image(client, record) if fresh is not None else _labelled(client, inputs)
    status: Status = "up to date"
    if image is None:
        status = "built"
        say(f"{key} building from {spec.dockerfile} on {base.ref}")
        staged, site = context.stage(ws, spec, version, epoch, given, say)
        with context.CONTEXT_LOCK:
            context.put_in_place(ws, spec, staged, site)
        args = {**_labels_args(ws, spec, version, epoch), **spec.build_args}
        args[spec.base_arg] = base.ref
        log = ws.root / "build" / "images" / f"{spec.name}.log"
        tag = f"{spec.repository}:{version}"
        labels = {INPUTS_LABEL: inputs}
        image_id = build_one(
            client, ws.root, spec, tag, args, say, log, nocache, labels, every_line
        )
        image = client.images.get(image_id)
    full_tags = _tag_all(image, spec.repository, planned.tags)
    bom = sbom_path(ws.root, spec.name, version)
    if status == "built" or subject_id(bom) != image.id:
        write_sbom(client, image, spec.name, version, bom, timestamp=int(epoch))
    if status == "built" or adopted is not None or cache.fresh(key, inputs) is None:
        record.parent.mkdir(parents=True, exist_ok=True)
        data = {"id": image.id, "version": version, "base": base.ref, "tags": list(full_tags)}
        record.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        cache.record(key, inputs, [record])
    image.reload()
    say(f"{key} {status}")
    size = int(image.attrs["Size"])
    if adopted is None:
        return ImageResult(spec.name, str(image.id), full_tags, size, status, bom)
    return ImageResult(
        spec.name, str(image.id), full_tags, size, status, bom, adopted.digest, adopted.repository
    )


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
) -> list[ImageResult]:
    """Build every image of ``packages`` (default all) whose inputs changed; tag and SBOM it.

    Tags: ``ironcage/<image>:<tag>`` for each of ``tags_for(version, HEAD)``. An unchanged
    image is only re-tagged (a new commit adds its ``sha-`` tag). ``force`` rebuilds all;
    ``nocache`` also bypasses the engine's layer cache.
    """
    client = client or connect()
    chosen = specs(ws, packages, images)
    planned = plan(ws, version, chosen, client)
    return [
        build_image(
            ws, planned, spec, client=client, force=force, nocache=nocache, progress=progress
        )
        for spec in chosen
    ]
