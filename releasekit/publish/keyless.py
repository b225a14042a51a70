"""Keyless cosign signatures where a workload identity exists (GitHub Actions OIDC).

In a GitHub Actions job granted ``id-token: write`` the runner exposes
``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``; cosign then gets a
short-lived Fulcio certificate for the workflow's identity and records the signature in
Rekor. These signatures come in addition to the key-based ones of the release (which
``invoke verify`` checks); without an identity there is nothing to do, and nothing is done.
Pushing the signatures needs the registry's credentials: those of the release.toml target
whose registry holds the image, from the variables that target names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from releasekit.core.errors import PreflightError
from releasekit.core.run import register_secret, run
from releasekit.publish import signing
from releasekit.publish.oci import Access
from releasekit.publish.supply_chain import release_record

__all__ = [
    "OIDC_VARIABLES",
    "identity",
    "keyless_sign_argv",
    "oidc_secrets",
    "registry_access",
    "sign_images",
]

OIDC_VARIABLES = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")


def identity(environ: Mapping[str, str] | None = None) -> bool:
    """True when this job can ask for an OIDC token (GitHub Actions with id-token: write)."""
    env = os.environ if environ is None else environ
    return all(env.get(name) for name in OIDC_VARIABLES)


def oidc_secrets() -> dict[str, str]:
    """The variables a Sigstore client asks the job's OIDC token with (``secrets=`` of it)."""
    return {name: os.environ[name] for name in OIDC_VARIABLES if os.environ.get(name)}


def keyless_sign_argv(ref: str) -> list[str]:
    """``cosign sign`` with the ambient OIDC identity: Fulcio certificate, Rekor entry."""
    return ["cosign", "sign", "--yes", ref]


def registry_access(
    targets: Mapping[str, Mapping[str, Any]],
    ref: str,
    environ: Mapping[str, str] | None = None,
) -> Access:
    """How cosign reaches the registry of ``ref``: the credentials of the target holding it.

    ``targets`` are release.toml's [targets.NAME] tables; the first whose ``registry`` host
    is the image's gives ``plain_http`` and the variables its credentials are read from.
    No credentials when no target holds that registry (a public or ambient login).
    """
    env = os.environ if environ is None else environ
    host = ref.split("/", 1)[0]
    for table in targets.values():
        if str(table.get("registry", "")).split("/", 1)[0] != host:
            continue
        user_env = str(table.get("registry_username_env", ""))
        password_env = str(table.get("registry_password_env", ""))
        password = env.get(password_env, "") if password_env else ""
        register_secret(password)
        return Access(
            plain_http=bool(table.get("plain_http", False)),
            username=env.get(user_env, "") if user_env else "",
            password=password,
        )
    return Access()


def sign_images(
    root: Path,
    version: str,
    say: Callable[[str], None] = lambda _line: None,
    targets: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """Sign every image of release ``version`` keylessly; [] when there is no identity."""
    if not identity():
        say("no OIDC identity (not a GitHub Actions job with id-token: write): nothing to sign")
        return []
    register_secret(os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
    folder = root / "dist" / version
    if not (folder / "release.json").is_file():
        raise PreflightError(
            f"{folder / 'release.json'} does not exist: run `invoke release` before signing "
            "its images keylessly."
        )
    signed = []
    for image in release_record(folder).images:
        argv = keyless_sign_argv(image.ref)
        access = registry_access(targets or {}, image.ref)
        with signing.registry_env(image.ref.split("/", 1)[0], access) as env:
            run([signing.require_cosign(), *argv[1:]], env=env, secrets=oidc_secrets())
        signed.append(image.ref)
        say(f"{image.ref}: signed keylessly")
    return signed
