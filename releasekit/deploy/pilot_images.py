"""The images the pilot runs, pinned by digest and checked against the release key first.

``docker/compose.yaml`` names each image as ``${IRONCAGE_REGISTRY}/NAME:${IRONCAGE_VERSION}``
followed by ``${NAME_DIGEST:-}``: with ``NAME_DIGEST=@sha256:...`` in the environment,
compose pulls and runs exactly that digest. ``pinned`` finds each digest (the release's
``dist/<version>/images.json``, else what the version's tag names in the registry), and
``check`` has every one verified (``releasekit.publish.trust.verify_images``) before compose
is asked to pull anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from releasekit.core.artifact import IMAGES_FILE, read_images
from releasekit.core.errors import PublishError
from releasekit.publish import oci
from releasekit.publish.trust import Trust, verify_images

__all__ = ["check", "digest_variable", "names", "pinned"]

_IMAGE = re.compile(r"/(?P<name>[a-z0-9._-]+):\$\{IRONCAGE_VERSION:-[^}]*\}\$\{(?P<var>\w+):-\}")


def digest_variable(name: str) -> str:
    """The variable compose reads the digest of image ``name`` from (``AGENT_RUNTIME_DIGEST``)."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_DIGEST"


def names(compose: Path) -> list[str]:
    """The images of the compose file that take a digest, in file order."""
    found = []
    for match in _IMAGE.finditer(compose.read_text(encoding="utf-8")):
        if match["var"] != digest_variable(match["name"]):
            raise PublishError(
                f"{compose}: image {match['name']} takes its digest from ${{{match['var']}}}; "
                f"name that variable {digest_variable(match['name'])}."
            )
        found.append(match["name"])
    return found


def pinned(
    root: Path, compose: Path, version: str, registry: str, how: oci.Access
) -> dict[str, str]:
    """Image name -> ``REGISTRY/NAME@sha256:...`` of ``version`` for every image of ``compose``."""
    record = root / "dist" / version / IMAGES_FILE
    recorded = read_images(record) if record.is_file() else {}
    refs = {}
    for name in names(compose):
        repository = f"{registry}/{name}"
        if name in recorded:
            digest = recorded[name].digest
        else:
            host, path = oci.split_ref(repository)
            manifest = oci.fetch_manifest(host, path, version, how)
            if manifest is None:
                raise PublishError(
                    f"{repository}:{version} is not in the registry, so the pilot cannot run "
                    f"{version}: publish it first (`invoke release`), or pass the registry "
                    "that holds it."
                )
            digest = manifest.digest
        refs[name] = f"{repository}@{digest}"
    return refs


def check(
    root: Path,
    compose: Path,
    version: str,
    registry: str,
    trust: Trust,
    say: Callable[[str], None] = lambda _line: None,
) -> dict[str, str]:
    """The compose variables pinning each image by digest, once every digest is verified."""
    refs = pinned(root, compose, version, registry, trust.access)
    verify_images(refs, trust, say)
    return _variables(refs)


def _variables(refs: Mapping[str, str]) -> dict[str, str]:
    return {digest_variable(name): "@" + ref.split("@", 1)[1] for name, ref in refs.items()}
