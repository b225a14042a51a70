"""Where artifacts go: package index, image registry, chart registry and git remote.

The embedded `sandbox` target needs no configuration: it is the local registry, package
index and bare git remote that `invoke sandbox.up` starts. Real targets are tables under
``[targets.NAME]`` in release.toml; their credentials come from environment variables
whose names the table gives, never from the file itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from releasekit.core import http
from releasekit.core.errors import HttpError, ManifestError, PreflightError
from releasekit.core.manifest import Manifest
from releasekit.core.run import register_secret

__all__ = ["SANDBOX", "Target", "check_reachable", "resolve"]

SANDBOX = "sandbox"
_KEYS = {
    "pypi_url": "package index upload URL (twine --repository-url)",
    "pypi_index": "the index's simple API, e.g. https://pypi.org/simple",
    "pypi_username_env": "variable holding the index user (default TWINE_USERNAME)",
    "pypi_password_env": "variable holding the index password/token (default TWINE_PASSWORD)",
    "pypi_read_username_env": "variable holding a user that may read a private index",
    "pypi_read_password_env": "variable holding that reader's password/token",
    "registry": "image registry and namespace, e.g. ghcr.io/ironcage",
    "registry_username_env": "variable holding the registry user",
    "registry_password_env": "variable holding the registry password/token",
    "chart_registry": "OCI chart registry, e.g. oci://ghcr.io/ironcage/charts",
    "git_remote": "git remote name or URL the release tag is pushed to",
    "git_token_env": "variable holding a token for an https git remote (e.g. GH_TOKEN)",
    "plain_http": "true for a registry without TLS (loopback registries only)",
    "pypi_trusted_publishing": "true to upload with a token minted from the job's OIDC identity",
    "signing_key_env": "variable holding the cosign private key (PEM) that signs the release",
    "signing_password_env": "variable holding the password of that key",
}


@dataclass(frozen=True)
class Target:
    """A resolved destination for every kind of artifact."""

    name: str
    kind: Literal["sandbox", "remote"]
    pypi_url: str
    pypi_index: str
    registry: str
    chart_registry: str
    git_remote: str
    plain_http: bool = False
    pypi_username: str = ""
    pypi_password: str = field(default="", repr=False)
    """Upload credentials: sent to ``pypi_url`` only (twine, the preflight's probe)."""
    pypi_read_username: str = ""
    pypi_read_password: str = field(default="", repr=False)
    """Read credentials for ``pypi_index`` (its origin only); empty: read anonymously."""
    registry_username: str = ""
    registry_password: str = field(default="", repr=False)
    git_token: str = field(default="", repr=False)
    trusted_publishing: bool = False
    """Upload with a token the index mints for the job's OIDC identity (no stored password)."""
    pypi_credentials_from: str = ""
    """Where the index credentials come from, in words (variable names), for errors."""
    registry_credentials_from: str = ""
    signing_key_env: str = ""
    signing_password_env: str = ""

    @property
    def registry_host(self) -> str:
        """The registry's host[:port], without the namespace."""
        return self.registry.split("/", 1)[0]

    def describe(self) -> dict[str, str]:
        """Destinations without any credential, for plans and reports."""
        return {
            "target": self.name,
            "python": self.pypi_url,
            "images": self.registry,
            "charts": self.chart_registry,
            "git": self.git_remote,
        }


def _env(name: str, variable: str, manifest: Manifest, key: str, needed: bool = True) -> str:
    value = os.environ.get(variable, "")
    if not value and not needed:
        return ""
    if not value:
        raise PreflightError(
            f"Target `{name}` in {manifest.path} reads `{key}` from the environment variable "
            f"{variable}, which is not set. Export {variable} (in CI: from a secret) and run again."
        )
    register_secret(value)
    return value


def resolve(
    manifest: Manifest, name: str, sandbox_state: Any | None = None, credentials: bool = True
) -> Target:
    """The target ``name``: `sandbox` (from the running sandbox) or a [targets.NAME] table.

    ``credentials=False`` (a dry run) leaves the credential variables unread.
    """
    if name == SANDBOX:
        if sandbox_state is None:
            raise PreflightError("The sandbox is not running: run `invoke sandbox.up` first.")
        register_secret(sandbox_state.pypi_password)
        return Target(
            name=SANDBOX,
            kind="sandbox",
            pypi_url=sandbox_state.pypi_url,
            pypi_index=f"{sandbox_state.pypi_url}/simple",
            registry=f"{sandbox_state.registry_host}/ironcage",
            chart_registry=f"oci://{sandbox_state.registry_host}/charts",
            git_remote=str(sandbox_state.git_remote),
            plain_http=True,
            pypi_username=sandbox_state.pypi_user,
            pypi_password=sandbox_state.pypi_password,
            pypi_credentials_from="the sandbox's generated credentials (.sandbox/pypi/credentials)",
        )
    table = manifest.targets.get(name)
    if table is None:
        known = ", ".join([SANDBOX, *sorted(manifest.targets)])
        raise ManifestError(
            f"Unknown target `{name}`: {manifest.path} knows {known}. Pass one of those to "
            f"--target, or add a [targets.{name}] table."
        )
    for key in table:
        if key not in _KEYS:
            raise ManifestError(
                f"{manifest.path}: `targets.{name}.{key}` is not a known key; allowed: "
                f"{', '.join(sorted(_KEYS))}."
            )
    for key in ("pypi_url", "registry", "chart_registry", "git_remote"):
        if not isinstance(table.get(key), str) or not table[key]:
            raise ManifestError(
                f"{manifest.path}: `targets.{name}.{key}` is missing; set it to the {_KEYS[key]}."
            )
    user_env = str(table.get("pypi_username_env", "TWINE_USERNAME"))
    password_env = str(table.get("pypi_password_env", "TWINE_PASSWORD"))
    read_user_env = table.get("pypi_read_username_env")
    read_password_env = table.get("pypi_read_password_env")
    if bool(read_user_env) != bool(read_password_env):
        raise ManifestError(
            f"{manifest.path}: `targets.{name}` names only one of `pypi_read_username_env` and "
            "`pypi_read_password_env`; name both (the index's reader and its password), or "
            "neither to read the index anonymously."
        )
    reg_user_env = table.get("registry_username_env")
    reg_password_env = table.get("registry_password_env")
    trusted = bool(table.get("pypi_trusted_publishing", False))

    def optional(key: str) -> str:
        """The secret in the variable ``key`` names; empty when the table names none."""
        variable = table.get(key)
        return _env(name, str(variable), manifest, key, credentials) if variable else ""

    target = Target(
        name=name,
        kind="remote",
        pypi_url=table["pypi_url"],
        pypi_index=str(table.get("pypi_index", table["pypi_url"].rstrip("/") + "/simple")),
        registry=table["registry"],
        chart_registry=table["chart_registry"],
        git_remote=table["git_remote"],
        plain_http=bool(table.get("plain_http", False)),
        pypi_username=(
            "__token__"
            if trusted
            else _env(name, user_env, manifest, "pypi_username_env", credentials)
        ),
        pypi_password=(
            "" if trusted else _env(name, password_env, manifest, "pypi_password_env", credentials)
        ),
        pypi_read_username=optional("pypi_read_username_env"),
        pypi_read_password=optional("pypi_read_password_env"),
        trusted_publishing=trusted,
        registry_username=optional("registry_username_env"),
        registry_password=optional("registry_password_env"),
        git_token=optional("git_token_env"),
        pypi_credentials_from=f"${user_env} / ${password_env}",
        registry_credentials_from=f"${reg_user_env} / ${reg_password_env}" if reg_user_env else "",
        signing_key_env=str(table.get("signing_key_env", "")),
        signing_password_env=str(table.get("signing_password_env", "")),
    )
    for key in ("signing_key_env", "signing_password_env"):
        if credentials and table.get(key):
            _env(name, str(table[key]), manifest, key)  # set, and redacted from now on
    return target


def check_reachable(target: Target, timeout: float = 10.0) -> None:
    """Preflight: the package index and the image registry of ``target`` answer HTTP at all."""
    scheme = "http" if target.plain_http else "https"
    for what, key, url in (
        ("package index", "pypi_index", target.pypi_index),
        ("image registry", "registry", f"{scheme}://{target.registry_host}/v2/"),
    ):
        try:
            http.get(url, timeout=timeout)  # any HTTP answer (401 included) means it is there
        except HttpError as exc:
            raise PreflightError(
                f"The {what} of target `{target.name}` does not answer at "
                f"{http.public_url(url)} ({exc.reason}). Check the network, or "
                f"`targets.{target.name}.{key}` in release.toml."
            ) from None
