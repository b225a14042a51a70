"""CycloneDX 1.5 JSON SBOMs for Python packages, written from the environment they run in.

The SBOM of a package lists what ``pip`` actually installed next to it in a fresh virtual
environment (the smoke-test venv), with the sha256 of every wheel the toolkit built. The
output is deterministic: the timestamp is ``SOURCE_DATE_EPOCH`` and the serial number is
derived from the package's wheel digest, so one commit always yields one SBOM.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import releasekit
from releasekit.core.files import file_sha256
from releasekit.core.run import run

__all__ = ["Installed", "canonical", "document", "installed", "purl", "python_bom", "write"]

SPEC_VERSION = "1.5"

_LIST_SCRIPT = r"""
import importlib.metadata as m, json, re
out = []
for d in m.distributions():
    req = []
    for r in d.requires or []:
        if "extra ==" in r.replace("extra==", "extra =="):
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r)
        if match:
            req.append(match.group(1))
    meta = d.metadata
    lic = meta.get("License-Expression") or meta.get("License") or ""
    out.append({"name": meta["Name"], "version": d.version, "license": lic, "requires": req})
print(json.dumps(out))
"""


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


def installed(python: Path) -> list[Installed]:
    """Every distribution importable by the interpreter ``python`` (a venv's ``bin/python``)."""
    out = run([str(python), "-I", "-c", _LIST_SCRIPT], mutates=False, quiet=True).stdout
    found = [
        Installed(
            name=str(d["name"]),
            version=str(d["version"]),
            license=str(d["license"]),
            requires=tuple(str(r) for r in d["requires"]),
        )
        for d in json.loads(out)
    ]
    return sorted(found, key=lambda d: canonical(d.name))


def _component(dist: Installed, kind: str, digest: str | None) -> dict[str, Any]:
    ref = purl(dist.name, dist.version)
    component: dict[str, Any] = {
        "type": kind,
        "bom-ref": ref,
        "name": canonical(dist.name),
        "version": dist.version,
        "purl": ref,
    }
    if digest:
        component["hashes"] = [{"alg": "SHA-256", "content": digest}]
    if dist.license and "\n" not in dist.license and len(dist.license) < 100:
        component["licenses"] = [{"license": {"name": dist.license}}]
    return component


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

    def depends(dist: Installed) -> dict[str, Any]:
        refs = sorted(
            purl(by_name[canonical(r)].name, by_name[canonical(r)].version)
            for r in dist.requires
            if canonical(r) in needed
        )
        return {"ref": purl(dist.name, dist.version), "dependsOn": refs}

    return document(
        _component(root, "library", wheel_digest),
        [_component(d, "library", digests.get(canonical(d.name))) for d in deps],
        [depends(root), *(depends(d) for d in deps)],
        serial_seed=purl(root.name, root.version) + wheel_digest,
        timestamp=timestamp,
    )


def document(
    subject: Mapping[str, Any],
    components: Sequence[Mapping[str, Any]],
    dependencies: Sequence[Mapping[str, Any]],
    *,
    serial_seed: str,
    timestamp: int,
) -> dict[str, Any]:
    """A CycloneDX 1.5 JSON document about ``subject``; its serial number follows the seed."""
    when = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, serial_seed)}",
        "version": 1,
        "metadata": {
            "timestamp": when,
            "tools": {
                "components": [
                    {"type": "application", "name": "releasekit", "version": releasekit.__version__}
                ]
            },
            "component": dict(subject),
        },
        "components": [dict(c) for c in components],
        "dependencies": [dict(d) for d in dependencies],
    }


def write(bom: Mapping[str, Any], dest: Path) -> Path:
    """Write ``bom`` as stable, indented JSON to ``dest`` and return it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(bom, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return dest
