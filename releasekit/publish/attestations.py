"""PyPI's native attestations (PEP 740) and trusted publishing, where an OIDC identity exists.

In a GitHub Actions job granted ``id-token: write``, each sdist and wheel is signed with the
job's identity (``pypi-attestations sign``: a Sigstore bundle beside the file,
``<file>.publish.attestation``) and twine uploads the attestations with the files
(``--attestations``), so the index shows who built them. A target with
``pypi_trusted_publishing = true`` also trades the OIDC token for a short-lived upload
token at the index (``/_/oidc/mint-token``) instead of reading a stored password.

Without an identity nothing here acts: the key-based signatures and the provenance of the
release (``releasekit.publish.supply_chain``) are what every release carries and what
``invoke verify`` checks.
"""

from __future__ import annotations

import importlib.util
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from releasekit.core import http
from releasekit.core.errors import HttpError, PreflightError, ToolMissingError
from releasekit.core.run import register_secret, run
from releasekit.publish.keyless import identity, oidc_secrets

__all__ = ["SUFFIX", "attest", "attested", "index_host", "mint_upload_token"]

SUFFIX = ".publish.attestation"
_TIMEOUT = 30


def attested(files: Sequence[Path]) -> bool:
    """True when every file has its attestation beside it (twine's ``--attestations``)."""
    return bool(files) and all(Path(f"{path}{SUFFIX}").is_file() for path in files)


def attest(files: Sequence[Path]) -> list[Path]:
    """Sign ``files`` with the job's OIDC identity; the attestation files ([] without one)."""
    if not identity() or not files:
        return []
    if importlib.util.find_spec("pypi_attestations") is None:
        raise ToolMissingError(
            "pypi-attestations is not installed beside the toolkit, so the uploads cannot be "
            "attested. Run `scripts/setup.sh` (it installs the toolkit's dependencies)."
        )
    pending = [path for path in files if not Path(f"{path}{SUFFIX}").is_file()]
    if pending:
        run([sys.executable, "-m", "pypi_attestations", "sign", *pending], secrets=oidc_secrets())
    return [Path(f"{path}{SUFFIX}") for path in files]


def index_host(upload_url: str) -> str:
    """The index that mints tokens for ``upload_url`` (upload.pypi.org -> pypi.org)."""
    host = urllib.parse.urlsplit(upload_url).netloc
    return host.removeprefix("upload.")


def _json(method: str, url: str, what: str, body: object = None) -> dict[str, object]:
    try:
        data = http.request(method, url, json_body=body, timeout=_TIMEOUT).raise_for_status().json()
    except HttpError as exc:
        raise PreflightError(
            f"Trusted publishing failed while asking for {what} ({exc}). Check that the "
            "index trusts this repository and workflow as a publisher."
        ) from None
    return dict(data) if isinstance(data, dict) else {}


def mint_upload_token(upload_url: str) -> str:
    """A short-lived upload token from the index for this job's OIDC identity."""
    import id as oidc

    host = index_host(upload_url)
    audience = _json("GET", f"https://{host}/_/oidc/audience", "the audience")
    credential = oidc.detect_credential(audience=str(audience.get("audience", "pypi")))
    if not credential:
        raise PreflightError(
            "Trusted publishing needs an OIDC identity: run in GitHub Actions with "
            "`permissions: id-token: write`, or drop `pypi_trusted_publishing` from the target."
        )
    register_secret(credential)
    minted = _json(
        "POST", f"https://{host}/_/oidc/mint-token", "an upload token", {"token": credential}
    )
    token = str(minted.get("token", ""))
    if not token:
        raise PreflightError(
            f"{host} minted no upload token ({minted.get('message', 'no reason given')}). "
            "Register this workflow as a trusted publisher of every project on the index."
        )
    register_secret(token)
    return token
