"""What a release is checked against before it is believed or run: the key the caller trusts.

``trusted_key`` chooses the public key: the one given (``--key``), else the sandbox's own
pair, else the public half of the target's signing key (from its variables). It never takes
the copy of ``cosign.pub`` that travels with the artifacts: a key fetched from where the
artifacts are proves nothing. ``verify_images`` is what every deploy calls before it runs an
image: each digest must carry a cosign signature by that key; an unsigned or foreign one is
refused, naming it. A target that releases unsigned (no ``signing_key_env``) is said so,
and its images are run by digest without a signature check.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from releasekit.core.errors import PreflightError, VerificationError
from releasekit.core.workspace import sandbox_home
from releasekit.publish import oci, provenance, signing
from releasekit.publish.supply_chain import access, release_key
from releasekit.publish.targets import Target

__all__ = ["Trust", "key_file", "trust_of", "trusted_key", "verify_images"]


@dataclass(frozen=True)
class Trust:
    """The key image signatures are checked with (None: the target releases unsigned)."""

    target: str
    public: Path | None
    access: oci.Access


def key_file(root: Path, given: str) -> Path:
    """``--key``: a file, or ``env://VAR`` (a public key held in a variable, written once).

    The variable suits CI, where the trusted key is a repository variable, not a file.
    """
    if not given.startswith("env://"):
        return Path(given)
    variable = given.removeprefix("env://")
    pem = os.environ.get(variable, "")
    if "PUBLIC KEY" not in pem:
        raise PreflightError(
            f"--key {given}: {variable} does not hold a public key (PEM, `-----BEGIN PUBLIC "
            f"KEY-----`). Set {variable} to the release's cosign.pub."
        )
    path = root / "build" / "keys" / f"{variable}.pub"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pem.strip() + "\n", encoding="ascii")
    return path


def trusted_key(root: Path, target: Target, key: Path | None = None) -> Path | None:
    """The key to check signatures with; None for a target that does not sign at all."""
    if key is not None:
        if not key.is_file():
            raise PreflightError(f"The public key {key} does not exist: pass the release's key.")
        return key
    if target.kind == "sandbox":
        public = sandbox_home(root) / "keys" / "cosign.pub"
        if public.is_file():
            return public
    elif not target.signing_key_env:
        return None
    elif os.environ.get(target.signing_key_env):
        return release_key(root, target).public
    raise PreflightError(
        f"No public key to check target `{target.name}` with: pass --key PATH, the release's "
        f"{provenance.PUBLIC_KEY} as you received and trust it (it is also among the release "
        "assets, but a key fetched from where the artifacts are proves nothing)."
    )


def trust_of(root: Path, target: Target, key: Path | None = None) -> Trust:
    """How a deploy from ``target`` checks its images: its trusted key and registry access."""
    return Trust(target.name, trusted_key(root, target, key), access(target))


def verify_images(
    refs: Mapping[str, str], trust: Trust, say: Callable[[str], None] = lambda _line: None
) -> None:
    """Each ``name -> REPOSITORY@sha256:...`` signed by the trusted key, or VerificationError.

    Every image is asked; the error names each unsigned or foreign one with cosign's reason.
    """
    for name, ref in refs.items():
        if "@sha256:" not in ref:
            raise VerificationError(
                f"Image {name} would run as {ref}, not by digest: only a digest can be checked "
                "against a signature. Deploy a released version (its images.json pins digests)."
            )
    if trust.public is None:
        say(
            f"target `{trust.target}` releases unsigned (no signing_key_env): running "
            f"{len(refs)} images by digest without a signature check"
        )
        return
    refused = []
    for name, ref in sorted(refs.items()):
        why = signing.verify(ref, trust.public, trust.access)
        if why is None:
            say(f"{name}: signed by {trust.public.name}")
        else:
            refused.append(f"{name} ({ref}): {why}")
    if refused:
        raise VerificationError(
            f"Refusing to deploy {len(refused)} "
            f"{'image' if len(refused) == 1 else 'images'} not signed by the release key "
            f"{trust.public} (target `{trust.target}`):\n  "
            + "\n  ".join(refused)
            + "\nAn unsigned image or one signed by another key was not released by this "
            "target: deploy a version its release signed, or pass --key with the key that "
            "signed it if you trust that key."
        )
