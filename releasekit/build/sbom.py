"""CycloneDX 1.5 JSON SBOMs, built with cyclonedx-python-lib, for Python packages and images.

The SBOM of a Python package lists what was installed next to it in a fresh virtual
environment (the smoke-test venv, read in-process from its ``site-packages``), with the
sha256 of every wheel the toolkit built. Documents are deterministic: the timestamp is
``SOURCE_DATE_EPOCH`` (written ``YYYY-MM-DDTHH:MM:SSZ``), the serial number derives from a
seed (the package's wheel digest, the image id), components are in package-URL order and
the subject's dependencies come first. Package URLs are kept as the engine spells them
(percent-encoded versions), which is also their ``bom-ref``.

The library is imported when the first document is made, so importing this module is cheap.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import releasekit
from releasekit.core.errors import ReleaseError
from releasekit.core.files import file_sha256

if TYPE_CHECKING:
    from cyclonedx.model.component import Component

__all__ = [
    "Installed",
    "canonical",
    "component",
    "document",
    "installed",
    "purl",
    "python_bom",
    "write",
]

SPEC_VERSION = "1.5"

_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA_MARKER = re.compile(r"\bextra\s*==")


@dataclass(frozen=True)
class Installed:
    """One distribution installed in an environment."""

    name: str
    version: str
    license: str = ""
    requires: tuple[str, ...] = ()


def canonical(name: str) -> str:
    """The PEP 503 normalised name (``Ironcage_CLI`` -> ``ironcage-cli``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def purl(name: str, version: str) -> str:
    """The package URL of a PyPI distribution."""
    return f"pkg:pypi/{canonical(name)}@{version}"


def _site_packages(python: Path) -> Path:
    venv = python.parent.parent
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not (venv / "pyvenv.cfg").is_file() or not found:
        raise ReleaseError(
            f"{python} is not the interpreter of a virtual environment (no {venv}/pyvenv.cfg "
            f"with lib/python3*/site-packages); pass the `bin/python` of a venv."
        )
    return found[0]


def _installed(dist: metadata.Distribution) -> Installed:
    meta: Message = dist.metadata  # type: ignore[assignment]
    requires = []
    for line in dist.requires or []:
        if _EXTRA_MARKER.search(line):
            continue
        match = _REQUIREMENT_NAME.match(line)
        if match:
            requires.append(match.group(1))
    lic = meta.get("License-Expression") or meta.get("License") or ""
    return Installed(str(meta["Name"]), dist.version, str(lic), tuple(requires))


def installed(python: Path) -> list[Installed]:
    """Every distribution in the virtual environment of ``python`` (a venv's ``bin/python``)."""
    site = _site_packages(python)
    found = [_installed(d) for d in metadata.distributions(path=[str(site)])]
    return sorted(found, key=lambda d: canonical(d.name))


def component(
    name: str,
    version: str,
    ref: str,
    *,
    kind: str = "library",
    digest: str | None = None,
    license: str = "",
) -> Component:
    """A CycloneDX component whose ``bom-ref`` and package URL are ``ref``.

    ``kind`` is a CycloneDX component type (``library``, ``container``, ...); ``digest`` a
    sha256; a ``license`` name longer than a line (a whole licence text) is left out.
    """
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.license import DisjunctiveLicense
    from packageurl import PackageURL

    licenses = []
    if license and "\n" not in license and len(license) < 100:
        licenses.append(DisjunctiveLicense(name=license))
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=digest)] if digest else []
    return Component(
        type=ComponentType(kind),
        name=name,
        version=version,
        bom_ref=ref,
        purl=PackageURL.from_string(ref),
        hashes=hashes,
        licenses=licenses,
    )


def python_bom(
    root: Installed,
    wheel: Path,
    environment: Sequence[Installed],
    digests: Mapping[str, str],
    *,
    timestamp: int,
) -> dict[str, Any]:
    """The SBOM of ``root`` (built as ``wheel``) and what it installed beside it.

    ``environment`` is every distribution of the smoke-test environment (``installed``);
    ``digests`` maps a canonical name to the sha256 of the wheel it was installed from.
    Installer tooling (pip, setuptools, wheel) is left out unless ``root`` requires it.
    """
    wheel_digest = file_sha256(wheel)
    by_name = {canonical(d.name): d for d in environment}
    needed: set[str] = set()
    frontier = [canonical(r) for r in root.requires]
    while frontier:
        name = frontier.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        frontier.extend(canonical(r) for r in by_name[name].requires)
    deps = [by_name[n] for n in sorted(needed) if n != canonical(root.name)]

    def ref(dist: Installed) -> str:
        return purl(dist.name, dist.version)

    def made(dist: Installed, digest: str | None) -> Component:
        return component(
            canonical(dist.name), dist.version, ref(dist), digest=digest, license=dist.license
        )

    def depends(dist: Installed) -> list[str]:
        return sorted(ref(by_name[canonical(r)]) for r in dist.requires if canonical(r) in needed)

    return document(
        made(root, wheel_digest),
        [made(d, digests.get(canonical(d.name))) for d in deps],
        {ref(d): depends(d) for d in [root, *deps]},
        serial_seed=ref(root) + wheel_digest,
        timestamp=timestamp,
    )


def document(
    subject: Component,
    components: Sequence[Component],
    dependencies: Mapping[str, Sequence[str]],
    *,
    serial_seed: str,
    timestamp: int,
) -> dict[str, Any]:
    """A CycloneDX 1.5 JSON document about ``subject`` holding ``components``.

    ``dependencies`` maps a ``bom-ref`` to the refs it depends on (every ref among the
    subject and the components). The serial number follows ``serial_seed``.
    """
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot5

    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, serial_seed))
    bom.metadata.timestamp = datetime.fromtimestamp(timestamp, tz=UTC)
    bom.metadata.component = subject
    tool = Component(
        type=ComponentType.APPLICATION, name="releasekit", version=releasekit.__version__
    )
    bom.metadata.tools.components.add(tool)
    bom.components.update(components)
    by_ref = {str(c.bom_ref.value): c for c in [subject, *components]}
    for ref, refs in dependencies.items():
        bom.register_dependency(by_ref[ref], [by_ref[r] for r in refs])
    data: dict[str, Any] = json.loads(JsonV1Dot5(bom).output_as_string())
    return _normalised(data, str(subject.bom_ref.value), timestamp)


def _normalised(data: dict[str, Any], subject: str, timestamp: int) -> dict[str, Any]:
    """The document in the engine's stable form (see the module docstring)."""
    data["metadata"]["timestamp"] = datetime.fromtimestamp(timestamp, tz=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    for item in [data["metadata"]["component"], *data.get("components", [])]:
        item["purl"] = item["bom-ref"]
    data["components"] = sorted(data.get("components", []), key=lambda c: c["bom-ref"])
    data["dependencies"] = sorted(
        data.get("dependencies", []), key=lambda d: (d["ref"] != subject, d["ref"])
    )
    return data


def write(bom: Mapping[str, Any], dest: Path) -> Path:
    """Write ``bom`` as stable, indented JSON to ``dest`` and return it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(bom, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return dest
