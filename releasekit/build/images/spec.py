"""What an image is: its spec from release.toml, its tags, its base image and the engine.

Every image named in a package's ``images = [...]`` is built from
``docker/<image>.Dockerfile`` with the repository root as the build context. The
Dockerfile's base-image argument (``PYTHON_BASE`` or ``NGINX_BASE``) says what kind of image
it is: a Python service installed from a wheelhouse, or nginx serving static files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from releasekit.build.images import bases
from releasekit.core import version as versions
from releasekit.core.errors import ManifestError, PreflightError, ReleaseError
from releasekit.core.workspace import Workspace

if TYPE_CHECKING:
    from docker.client import DockerClient

__all__ = [
    "DEFAULT_BASES",
    "LOCAL_BASES",
    "LOCAL_PREFIX",
    "BaseImage",
    "ImageSpec",
    "connect",
    "resolve_base_images",
    "specs",
    "tags_for",
]

LOCAL_PREFIX = "ironcage"
BaseArg = Literal["PYTHON_BASE", "NGINX_BASE"]
DEFAULT_BASES: dict[BaseArg, str] = {
    "PYTHON_BASE": "python:3.11-slim-bookworm",
    "NGINX_BASE": "nginx:1.27-bookworm",
}
LOCAL_BASES: dict[BaseArg, str] = {
    "PYTHON_BASE": "releasekit-base/python:3.11-bookworm",
    "NGINX_BASE": "releasekit-base/nginx:bookworm",
}
_BASE_ARG = re.compile(r"(?m)^\s*ARG\s+(PYTHON_BASE|NGINX_BASE)\b")


@dataclass(frozen=True)
class ImageSpec:
    """One image: its name, the package it ships, its Dockerfile, context and build inputs.

    ``dists`` are the Python distributions its wheelhouse holds (the package's own and its
    internal dependencies', dependencies first); ``site`` says the build copies the rendered
    static site of the package.
    """

    name: str
    package: str
    dockerfile: str
    context: str = "."
    base_arg: BaseArg = "PYTHON_BASE"
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    dists: tuple[str, ...] = ()
    site: bool = False

    @property
    def repository(self) -> str:
        """The local repository name, ``ironcage/<name>``."""
        return f"{LOCAL_PREFIX}/{self.name}"

    def input_files(self, root: Path) -> list[Path]:
        """Files outside the package folder that the build reads (Dockerfile, nginx config)."""
        files = [root / self.dockerfile, root / self.context / ".dockerignore"]
        if self.base_arg == "NGINX_BASE":
            files += sorted((root / "docker" / "nginx").glob("*"))
        return [f for f in files if f.is_file()]


def _closure_dists(ws: Workspace, package: str) -> tuple[str, ...]:
    """The distributions of ``package`` and its internal dependencies, dependencies first."""
    return tuple(ws.get(n).spec.dist for n in ws.closure(package))


def specs(
    ws: Workspace, packages: Sequence[str] | None = None, images: Sequence[str] | None = None
) -> list[ImageSpec]:
    """The images of ``packages`` (default: every package that ships one), dependencies first.

    ``images`` narrows the list to those image names; an unknown name is a ManifestError.
    """
    for name in packages or ():
        ws.get(name)
    result: list[ImageSpec] = []
    for name in ws.order():
        pkg = ws.get(name)
        if "image" not in pkg.spec.artifacts or (packages and name not in packages):
            continue
        for image in pkg.spec.images:
            dockerfile = f"docker/{image}.Dockerfile"
            path = ws.root / dockerfile
            if not path.is_file():
                raise ManifestError(
                    f"{ws.manifest.path}: package `{name}` ships image `{image}`, but "
                    f"{dockerfile} does not exist. Add the Dockerfile or remove the image."
                )
            match = _BASE_ARG.search(path.read_text(encoding="utf-8"))
            nginx = match is not None and match.group(1) == "NGINX_BASE"
            base_arg: BaseArg = "NGINX_BASE" if nginx else "PYTHON_BASE"
            python = base_arg == "PYTHON_BASE"
            result.append(
                ImageSpec(
                    name=image,
                    package=name,
                    dockerfile=dockerfile,
                    base_arg=base_arg,
                    dists=_closure_dists(ws, name) if python else (),
                    site=not python and "site" in pkg.spec.artifacts,
                )
            )
    if images:
        known = {s.name for s in result}
        for image in images:
            if image not in known:
                raise ManifestError(
                    f"Unknown image `{image}`: {ws.manifest.path} declares "
                    f"{', '.join(sorted(known)) or 'no image'}. Pass one of those names."
                )
        result = [s for s in result if s.name in images]
    return result


def tags_for(version: str, short_sha: str | None, released: Iterable[str] = ()) -> list[str]:
    """The tags of an image of ``version``: X.Y.Z, X.Y, X, latest and sha-<short>.

    A pre-release (``1.2.0-rc.1``) gets only its exact tag and the sha tag: the moving tags
    X.Y, X and latest always name a release. A moving tag is also left out when a higher
    version of its line is among ``released`` (a 1.3.5 hotfix after 1.4.0 moves ``1.3``,
    not ``1`` nor ``latest``).
    """
    parsed = versions.parse(version, "the image version")
    tags = [str(parsed)]
    if not parsed.prerelease:
        finals = []
        for value in released:
            try:
                other = versions.parse(value)
            except ReleaseError:
                continue
            if not other.prerelease:
                finals.append(other)
        lines = (
            (
                f"{parsed.major}.{parsed.minor}",
                lambda v: (v.major, v.minor) == (parsed.major, parsed.minor),
            ),
            (str(parsed.major), lambda v: v.major == parsed.major),
            ("latest", lambda v: True),
        )
        tags += [tag for tag, in_line in lines if all(v <= parsed for v in finals if in_line(v))]
    if short_sha:
        if not re.fullmatch(r"[0-9a-f]{4,40}", short_sha):
            raise ValueError(f"not a commit id: {short_sha!r}")
        tags.append(f"sha-{short_sha}")
    return tags


def connect() -> DockerClient:
    """A docker SDK client of the engine at DOCKER_HOST; PreflightError when it does not answer."""
    import docker.client
    import docker.errors
    import requests

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.client.from_env(version="auto")
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise PreflightError(
            f"The Docker engine does not answer at DOCKER_HOST={host} ({exc}). Start it: "
            "`scripts/setup.sh` (as root) installs and starts it, or run `dockerd` as root; "
            "or point DOCKER_HOST at a running engine."
        ) from None
    return client


@dataclass(frozen=True)
class BaseImage:
    """The base image a build argument resolves to, and where the choice came from."""

    arg: BaseArg
    ref: str
    id: str
    source: Literal["env", "public", "local"]


def _local_id(client: DockerClient, ref: str) -> str | None:
    import docker.errors

    try:
        return cast(str, client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        raise PreflightError(f"The Docker engine failed to inspect {ref}: {exc}") from None


def _pull(client: DockerClient, ref: str) -> str | None:
    import docker.errors

    try:
        return cast(str, client.images.pull(ref).id)
    except docker.errors.APIError:
        return None


def resolve_base_images(
    client: DockerClient,
    args: Sequence[BaseArg] = ("PYTHON_BASE", "NGINX_BASE"),
    environ: Mapping[str, str] | None = None,
    pinned: Mapping[str, str] | None = None,
) -> dict[BaseArg, BaseImage]:
    """The base image of each build argument in ``args``.

    In order: the environment variable of the same name (pulled when absent); the public
    base (release.toml's ``[base_images]`` pin, given as ``pinned``, else the default tag)
    when present locally; the local ``releasekit-base/*`` image, whose id must be the one
    the bootstrap recorded; the public base pulled. PreflightError naming both images and
    the bootstrap script when none is there.
    """
    env = os.environ if environ is None else environ
    pins: dict[str, str] = {**dict(DEFAULT_BASES.items()), **(pinned or {})}
    found: dict[BaseArg, BaseImage] = {}
    for arg in args:
        chosen = env.get(arg, "").strip()
        if chosen:
            image_id = _local_id(client, chosen) or _pull(client, chosen)
            if image_id is None:
                raise PreflightError(
                    f"{arg}={chosen} (from the environment) is not a local image and cannot be "
                    f"pulled. Unset {arg} to use {pins[arg]} or {LOCAL_BASES[arg]}, "
                    "or pull/build that image first."
                )
            found[arg] = BaseImage(arg, chosen, image_id, "env")
            continue
        public, local = pins[arg], LOCAL_BASES[arg]
        image_id = _local_id(client, public)
        if image_id is not None:
            found[arg] = BaseImage(arg, public, image_id, "public")
            continue
        image_id = _local_id(client, local)
        if image_id is not None:
            bases.check_recorded(local, image_id, env)
            found[arg] = BaseImage(arg, local, image_id, "local")
            continue
        image_id = _pull(client, public)
        if image_id is None:
            raise PreflightError(
                f"No base image for {arg}: neither {public} nor {local} is present, and "
                f"{public} cannot be pulled. Build the local base images with "
                f"`sudo docker/base/bootstrap.sh`, or set {arg} to an image you have."
            )
        found[arg] = BaseImage(arg, public, image_id, "public")
    return found
