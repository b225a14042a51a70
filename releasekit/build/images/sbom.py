"""CycloneDX 1.5 SBOM of an image: what is installed in it, read from a throwaway container.

One container per image (no network, removed at exit) prints the distribution
(``/etc/os-release``), every Debian package (``dpkg-query -W``) and, when the image has the
``/opt/venv`` environment, every Python distribution in it. The SBOM lists them with
``pkg:deb/debian/...`` and ``pkg:pypi/...`` package URLs. It is deterministic: the
timestamp is the build's ``SOURCE_DATE_EPOCH`` and the serial number derives from the
image id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from releasekit.build import sbom as python_sbom
from releasekit.core.errors import ConflictError, ToolError

if TYPE_CHECKING:
    from docker.client import DockerClient
    from docker.models.images import Image

__all__ = [
    "Component",
    "image_bom",
    "inventory",
    "parse_inventory",
    "require_subject",
    "sbom_name",
    "sbom_path",
    "subject_id",
    "write_sbom",
]

_MARK = "----releasekit-sbom----"
_SCRIPT = f"""
set -e
. /etc/os-release
echo "$ID $VERSION_ID"
echo {_MARK}
dpkg-query -W -f '${{Package}}\\t${{Version}}\\t${{Architecture}}\\n'
echo {_MARK}
if [ -x /opt/venv/bin/python3 ]; then
  /opt/venv/bin/python3 -I -c 'import importlib.metadata as m, json; \
print(json.dumps(sorted([d.metadata["Name"], d.version] for d in m.distributions())))'
else
  echo '[]'
fi
"""


@dataclass(frozen=True)
class Component:
    """One installed package: its ecosystem, name, version and package URL."""

    kind: str
    name: str
    version: str
    purl: str


def sbom_name(image: str, version: str, platform: str = "") -> str:
    """``<image>-<version>.cdx.json``; one platform's image of a multi-platform image has its
    own, ``<image>-<version>-<os>-<arch>.cdx.json`` (``linux/arm64`` as ``linux-arm64``)."""
    suffix = f"-{platform.replace('/', '-')}" if platform else ""
    return f"{image}-{version}{suffix}.cdx.json"


def sbom_path(root: Path, image: str, version: str, platform: str = "") -> Path:
    """``dist/<version>/sbom/`` and :func:`sbom_name`."""
    return root / "dist" / version / "sbom" / sbom_name(image, version, platform)


def _deb_purl(name: str, version: str, arch: str, distro: str) -> str:
    return (
        f"pkg:deb/{distro.split('-')[0]}/{quote(name, safe='')}@{quote(version, safe='')}"
        f"?arch={arch}&distro={distro}"
    )


def parse_inventory(output: str) -> list[Component]:
    """The components in the output of the inventory script (see module doc)."""
    parts = output.split(_MARK)
    if len(parts) != 3:
        raise ValueError("unexpected inventory output")
    os_id, _, os_version = parts[0].strip().partition(" ")
    distro = f"{os_id}-{os_version}" if os_version else os_id
    found: list[Component] = []
    for line in parts[1].strip().splitlines():
        name, version, arch = [*line.split("\t"), "", ""][:3]
        if name and version:
            found.append(Component("deb", name, version, _deb_purl(name, version, arch, distro)))
    for name, version in json.loads(parts[2].strip() or "[]"):
        canonical = python_sbom.canonical(str(name))
        found.append(
            Component("pypi", canonical, str(version), python_sbom.purl(canonical, str(version)))
        )
    return sorted(found, key=lambda c: (c.kind, c.name))


def inventory(client: DockerClient, image: Image) -> list[Component]:
    """Every Debian package and Python distribution installed in ``image``."""
    import docker.errors

    image_id = str(image.id)
    try:
        out = client.containers.run(
            image_id,
            entrypoint=["/bin/sh", "-c"],
            command=[_SCRIPT],
            network_disabled=True,
            remove=True,
            stdout=True,
            stderr=True,
        )
        return parse_inventory(out.decode("utf-8", "replace"))
    except (docker.errors.ContainerError, docker.errors.APIError, ValueError) as exc:
        raise ToolError(
            ["docker", "run", "--rm", image_id, "/bin/sh", "-c", "<inventory>"],
            getattr(exc, "exit_status", 1),
            str(exc),
            "Listing the packages of the image failed; it needs /bin/sh and dpkg-query.",
        ) from None


def image_bom(
    image: str, version: str, image_id: str, components: list[Component], *, timestamp: int
) -> dict[str, Any]:
    """The CycloneDX 1.5 document of ``image`` holding ``components``."""
    digest = image_id.split(":", 1)[-1]
    root_ref = f"pkg:oci/{image}@sha256%3A{digest}?tag={version}"
    subject = python_sbom.component(image, version, root_ref, kind="container", digest=digest)
    unique = {c.purl: c for c in components}
    listed = [python_sbom.component(c.name, c.version, ref) for ref, c in unique.items()]
    return python_sbom.document(
        subject,
        listed,
        {root_ref: sorted(unique)},
        serial_seed=root_ref,
        timestamp=timestamp,
    )


def write_sbom(
    client: DockerClient, image: Image, name: str, version: str, dest: Path, *, timestamp: int
) -> Path:
    """Write the SBOM of ``image`` (named ``name``) to ``dest``; returns ``dest``."""
    bom = image_bom(name, version, str(image.id), inventory(client, image), timestamp=timestamp)
    return python_sbom.write(bom, dest)


def subject_id(path: Path) -> str | None:
    """The image id (``sha256:...``) the SBOM at ``path`` describes; None when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        hashes = data["metadata"]["component"].get("hashes") or []
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    for entry in hashes:
        if isinstance(entry, dict) and entry.get("alg") == "SHA-256" and entry.get("content"):
            return f"sha256:{entry['content']}"
    return None


def require_subject(bom: Path, manifest: dict[str, Any], ref: str) -> None:
    """ConflictError unless the SBOM ``bom`` describes the image of ``manifest`` (at ``ref``).

    An image's id is the digest of its config, which its registry manifest names.
    """
    config = str((manifest.get("config") or {}).get("digest", ""))
    described = subject_id(bom)
    if config and described and described != config:
        raise ConflictError(
            f"{bom} describes the image {described}, but {ref} is the image {config}: the SBOM "
            "is of another build, not of what ships, and is never attested onto it. Run "
            "`invoke release` again without --resume: the build loads each platform's image "
            "it recorded and writes that image's SBOM."
        )
