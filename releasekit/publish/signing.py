"""cosign with a key: key pairs, signatures and attestations by digest, and their checks.

Every cosign call is an argument list built by a ``*_argv`` function and run once through
``releasekit.core.run.run``. The key is a cosign key reference (a file, or ``env://VAR`` for a
key held in a variable); its password reaches cosign only as ``COSIGN_PASSWORD`` in the
process environment. Signing is offline: no transparency log and no signing config
(``--tlog-upload=false --use-signing-config=false``), and verification skips the log
(``--insecure-ignore-tlog=true``). On a registry without the OCI referrers API
(distribution 2.8) cosign stores signatures and attestations under the tag-based fallback
(``sha256-<digest>.sig`` / ``.att``). Registry credentials go to cosign through a private,
temporary ``DOCKER_CONFIG``, never on the command line.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from releasekit.core.errors import ReleaseError, ToolError
from releasekit.core.run import register_secret, require_tool, run
from releasekit.publish.oci import Access

__all__ = [
    "COSIGN_VERSION",
    "PASSWORD_ENV",
    "SBOM_TYPE",
    "SigningKey",
    "attest",
    "attest_argv",
    "attested_predicates",
    "ensure_key_pair",
    "generate_key_pair",
    "generate_key_pair_argv",
    "public_key",
    "public_key_argv",
    "registry_env",
    "require_cosign",
    "sign",
    "sign_argv",
    "sign_blob",
    "sign_blob_argv",
    "verify",
    "verify_argv",
    "verify_attestation_argv",
    "verify_blob",
    "verify_blob_argv",
]

COSIGN_VERSION = "v3.1.3"
PASSWORD_ENV = "COSIGN_PASSWORD"
SBOM_TYPE = "cyclonedx"
_OFFLINE_SIGN = ("--tlog-upload=false", "--use-signing-config=false")
_OFFLINE_VERIFY = ("--insecure-ignore-tlog=true",)
_HINT = (
    "cosign is built by `scripts/setup.sh` "
    f"(`go install github.com/sigstore/cosign/v3/cmd/cosign@{COSIGN_VERSION}`)."
)


@dataclass(frozen=True)
class SigningKey:
    """A cosign private key reference (path or ``env://VAR``), its password, its public key."""

    ref: str
    public: Path
    password: str = field(default="", repr=False)

    def secrets(self) -> dict[str, str]:
        """What cosign needs in its environment to sign: the password, and the key itself when
        the reference is ``env://VAR`` (cosign reads ``VAR``)."""
        register_secret(self.password)
        found = {PASSWORD_ENV: self.password}
        if self.ref.startswith("env://"):
            variable = self.ref.removeprefix("env://")
            found[variable] = os.environ.get(variable, "")
            register_secret(found[variable])
        return found


def require_cosign() -> str:
    """The path of cosign; ToolMissingError with how to install it otherwise."""
    return require_tool("cosign", _HINT)


def _registry_flags(access: Access) -> list[str]:
    return ["--allow-http-registry=true"] if access.plain_http else []


@contextlib.contextmanager
def _registry_env(host: str, access: Access) -> Iterator[dict[str, str]]:
    """``DOCKER_CONFIG`` holding only this registry's credentials, for one cosign call."""
    if not access.username:
        yield {}
        return
    register_secret(access.password)
    token = base64.b64encode(f"{access.username}:{access.password}".encode()).decode()
    register_secret(token)
    with tempfile.TemporaryDirectory(prefix="releasekit-cosign-") as tmp:
        config = Path(tmp) / "config.json"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"auths": {host: {"auth": token}}}, handle)
        yield {"DOCKER_CONFIG": tmp}


def registry_env(host: str, access: Access) -> contextlib.AbstractContextManager[dict[str, str]]:
    """The environment giving cosign ``access``'s credentials for ``host`` (and no others)."""
    return _registry_env(host, access)


# -- argv builders ---------------------------------------------------------------------------


def generate_key_pair_argv(prefix: str = "cosign") -> list[str]:
    return ["cosign", "generate-key-pair", "--output-key-prefix", prefix]


def public_key_argv(key_ref: str, dest: Path) -> list[str]:
    return ["cosign", "public-key", "--key", key_ref, "--outfile", str(dest)]


def sign_argv(ref: str, key_ref: str, access: Access) -> list[str]:
    """``cosign sign`` of ``ref`` (``REPO@sha256:...``) with a key, offline."""
    return [
        "cosign", "sign", "--yes", "--key", key_ref, *_OFFLINE_SIGN, *_registry_flags(access),
        ref,
    ]  # fmt: skip


def attest_argv(
    ref: str, key_ref: str, predicate: Path, predicate_type: str, access: Access
) -> list[str]:
    """``cosign attest``: ``predicate`` as a signed in-toto attestation of ``ref``."""
    return [
        "cosign", "attest", "--yes", "--key", key_ref, "--type", predicate_type,
        "--predicate", str(predicate), *_OFFLINE_SIGN, *_registry_flags(access), ref,
    ]  # fmt: skip


def verify_argv(ref: str, public: Path, access: Access) -> list[str]:
    return [
        "cosign", "verify", "--key", str(public), *_OFFLINE_VERIFY, *_registry_flags(access),
        "--output", "json", ref,
    ]  # fmt: skip


def verify_attestation_argv(
    ref: str, public: Path, predicate_type: str, access: Access
) -> list[str]:
    return [
        "cosign", "verify-attestation", "--key", str(public), "--type", predicate_type,
        *_OFFLINE_VERIFY, *_registry_flags(access), ref,
    ]  # fmt: skip


def sign_blob_argv(blob: Path, key_ref: str, signature: Path) -> list[str]:
    """``cosign sign-blob``: a base64 signature of ``blob`` written to ``signature``."""
    return [
        "cosign", "sign-blob", "--yes", "--key", key_ref, *_OFFLINE_SIGN,
        "--new-bundle-format=false", "--output-signature", str(signature), str(blob),
    ]  # fmt: skip


def verify_blob_argv(blob: Path, public: Path, signature: Path) -> list[str]:
    return [
        "cosign", "verify-blob", "--key", str(public), "--signature", str(signature),
        *_OFFLINE_VERIFY, "--new-bundle-format=false", str(blob),
    ]  # fmt: skip


# -- calls -----------------------------------------------------------------------------------


def _call(
    argv: list[str],
    env: dict[str, str],
    check: bool = True,
    secrets: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """One cosign call: ``env`` its settings, ``secrets`` the key material it signs with."""
    argv = [require_cosign(), *argv[1:]]
    return run(argv, env=env, secrets=secrets, check=check, hint=_HINT, **kwargs)


def generate_key_pair(folder: Path, password: str) -> tuple[Path, Path]:
    """A new key pair ``folder/cosign.key`` (0600, encrypted with ``password``) and ``.pub``."""
    folder.mkdir(parents=True, exist_ok=True)
    register_secret(password)
    _call(generate_key_pair_argv(), {}, secrets={PASSWORD_ENV: password}, cwd=folder, quiet=True)
    key, pub = folder / "cosign.key", folder / "cosign.pub"
    os.chmod(key, 0o600)
    return key, pub


def ensure_key_pair(home: Path) -> tuple[Path, Path, str]:
    """(private key, public key, password) in ``home``, generated once with a new password.

    The folder is 0700; the private key and the ``password`` file beside it are 0600. A
    half-made pair (a crash during generation) is made anew, never used.
    """
    key, public, secret = home / "cosign.key", home / "cosign.pub", home / "password"
    if not (key.is_file() and public.is_file() and secret.is_file()):
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        with tempfile.TemporaryDirectory(prefix=".new-", dir=home) as tmp:
            fresh = Path(tmp)
            password = secrets.token_urlsafe(24)
            fd = os.open(fresh / "password", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(password)
            generate_key_pair(fresh, password)
            for name in ("cosign.key", "cosign.pub", "password"):
                (fresh / name).replace(home / name)
    password = secret.read_text(encoding="utf-8").strip()
    register_secret(password)
    return key, public, password


def public_key(key: SigningKey, dest: Path) -> Path:
    """Write the public key of ``key`` to ``dest`` (from the private key and its password)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _call(public_key_argv(key.ref, dest), {}, secrets=key.secrets(), quiet=True)
    return dest


def _host(ref: str) -> str:
    return ref.removeprefix("oci://").split("/", 1)[0]


def verify(ref: str, public: Path, access: Access) -> str | None:
    """None when ``ref`` carries a signature by ``public``'s key; otherwise why not."""
    with _registry_env(_host(ref), access) as env:
        result = _call(verify_argv(ref, public, access), env, check=False, mutates=False)
    if result.returncode == 0:
        return None
    return _reason(result.stderr or result.stdout)


def _reason(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    return (errors or lines or ["cosign gave no reason"])[-1].removeprefix("Error: ")


def sign(ref: str, key: SigningKey, access: Access) -> Literal["signed", "already signed"]:
    """Sign ``ref`` unless it already carries a signature by this key (asked first)."""
    if verify(ref, key.public, access) is None:
        return "already signed"
    with _registry_env(_host(ref), access) as registry_env:
        _call(sign_argv(ref, key.ref, access), registry_env, secrets=key.secrets())
    return "signed"


def attested_predicates(
    ref: str, public: Path, predicate_type: str, access: Access
) -> tuple[list[Any], str | None]:
    """The predicates of ``ref``'s attestations by ``public``'s key, or (``[]``, why not)."""
    with _registry_env(_host(ref), access) as env:
        argv = verify_attestation_argv(ref, public, predicate_type, access)
        result = _call(argv, env, check=False, mutates=False)
    if result.returncode != 0:
        return [], _reason(result.stderr or result.stdout)
    predicates = []
    for line in result.stdout.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            payload = json.loads(base64.b64decode(json.loads(line)["payload"]))
            predicates.append(payload["predicate"])
    return predicates, None


def attest(
    ref: str, predicate: Path, predicate_type: str, key: SigningKey, access: Access
) -> Literal["attested", "already attested"]:
    """Attach ``predicate`` to ``ref`` unless an identical one by this key is there already."""
    wanted = json.loads(predicate.read_text(encoding="utf-8"))
    there, _ = attested_predicates(ref, key.public, predicate_type, access)
    if wanted in there:
        return "already attested"
    with _registry_env(_host(ref), access) as registry_env:
        _call(
            attest_argv(ref, key.ref, predicate, predicate_type, access),
            registry_env,
            secrets=key.secrets(),
        )
    return "attested"


def sign_blob(data: bytes, key: SigningKey) -> bytes:
    """The raw signature of ``data`` by ``key`` (cosign's ECDSA/SHA-256 over the bytes)."""
    with tempfile.TemporaryDirectory(prefix="releasekit-blob-") as tmp:
        blob, signature = Path(tmp) / "blob", Path(tmp) / "blob.sig"
        blob.write_bytes(data)
        _call(sign_blob_argv(blob, key.ref, signature), {}, secrets=key.secrets(), quiet=True)
        try:
            return base64.b64decode(signature.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            raise ReleaseError(
                f"cosign sign-blob wrote no readable signature to {signature}."
            ) from None


def verify_blob(data: bytes, signature: bytes, public: Path) -> str | None:
    """None when ``signature`` over ``data`` verifies with ``public``; otherwise why not."""
    with tempfile.TemporaryDirectory(prefix="releasekit-blob-") as tmp:
        blob, sig = Path(tmp) / "blob", Path(tmp) / "blob.sig"
        blob.write_bytes(data)
        sig.write_text(base64.b64encode(signature).decode("ascii"), encoding="ascii")
        try:
            result = _call(
                verify_blob_argv(blob, public, sig), {}, check=False, mutates=False, quiet=True
            )
        except ToolError as exc:
            return str(exc)
    return None if result.returncode == 0 else _reason(result.stderr or result.stdout)
