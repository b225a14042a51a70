"""SLSA v1 provenance of a release: an in-toto Statement v1 in a DSSE envelope.

The statement's subjects are every artifact of the release: each file of SHA256SUMS by
its path and sha256, each image and chart by its repository and manifest digest. Its
predicate (``https://slsa.dev/provenance/v1``) holds the build definition (toolkit
version, commit, options, build tools and base images) and the run details (builder id,
start and finish). The envelope's signature is over the DSSE pre-authentication encoding
(PAE) of the statement, made with the release key, so
``cosign verify-blob-attestation --key cosign.pub --signature provenance.intoto.jsonl
--type slsaprovenance1 FILE`` checks a file against it with nothing but cosign.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasekit.core.errors import PublishError
from releasekit.core.files import write_json
from releasekit.publish.signing import SigningKey, sign_blob, verify_blob

__all__ = [
    "FILENAME",
    "METADATA",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "PUBLIC_KEY",
    "STATEMENT_TYPE",
    "Envelope",
    "Subject",
    "check",
    "claims",
    "envelope",
    "pae",
    "read",
    "statement",
    "write",
]

FILENAME = "provenance.intoto.jsonl"
PUBLIC_KEY = "cosign.pub"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUILD_TYPE = "https://github.com/ironcage/releasekit/release/v1"
METADATA = frozenset({FILENAME, PUBLIC_KEY, "RELEASE_NOTES.md", "release.json"})
"""Files of a release folder that describe the release rather than being built by it."""


@dataclass(frozen=True, order=True)
class Subject:
    """One artifact the provenance covers: its name and sha256 (hex, no prefix)."""

    name: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "digest": {"sha256": self.sha256}}


@dataclass(frozen=True)
class Envelope:
    """A read DSSE envelope: the statement it carries, the PAE and the signature bytes."""

    statement: dict[str, Any]
    signed: bytes
    signature: bytes

    @property
    def subjects(self) -> dict[str, str]:
        """Subject name -> sha256."""
        return {
            str(s.get("name")): str((s.get("digest") or {}).get("sha256", ""))
            for s in self.statement.get("subject", [])
        }


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding, the bytes that are signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(
    subjects: Iterable[Subject],
    *,
    external: Mapping[str, Any],
    internal: Mapping[str, Any],
    dependencies: Iterable[Mapping[str, Any]],
    builder_id: str,
    invocation: str,
    started: str,
    finished: str,
) -> dict[str, Any]:
    """An in-toto Statement v1 with a SLSA v1 provenance predicate."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [s.to_json() for s in sorted(set(subjects))],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": dict(external),
                "internalParameters": dict(internal),
                "resolvedDependencies": [dict(d) for d in dependencies],
            },
            "runDetails": {
                "builder": {"id": builder_id},
                "metadata": {
                    "invocationId": invocation,
                    "startedOn": started,
                    "finishedOn": finished,
                },
            },
        },
    }


def envelope(data: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """``data`` (a statement) signed by ``key`` as a DSSE envelope."""
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    signature = sign_blob(pae(PAYLOAD_TYPE, payload), key)
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode("ascii")}],
    }


def write(path: Path, signed: Mapping[str, Any]) -> Path:
    """Write an envelope as one JSON line (the ``.intoto.jsonl`` format), atomically."""
    write_json(path, signed, redacted=False, compact=True, mode=0o644)
    return path


def read(path: Path) -> Envelope:
    """The envelope in ``path``; PublishError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
        payload = base64.b64decode(data["payload"], validate=True)
        signature = base64.b64decode(data["signatures"][0]["sig"], validate=True)
        kind = str(data["payloadType"])
        decoded = json.loads(payload)
    except (OSError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise PublishError(
            f"{path} is not a DSSE envelope of an in-toto statement ({exc.__class__.__name__}: "
            f"{exc}). Fetch it again from the release assets, or release again."
        ) from None
    if kind != PAYLOAD_TYPE or decoded.get("_type") != STATEMENT_TYPE:
        raise PublishError(
            f"{path} holds a `{kind}` payload of type `{decoded.get('_type')}`, not an in-toto "
            f"Statement v1 ({PAYLOAD_TYPE})."
        )
    return Envelope(decoded, pae(kind, payload), signature)


def check(path: Path, public: Path) -> tuple[Envelope | None, str | None]:
    """(the envelope, None) when ``path`` is signed by ``public``'s key; (?, why not) else."""
    try:
        found = read(path)
    except PublishError as exc:
        return None, str(exc)
    why = verify_blob(found.signed, found.signature, public)
    if why is not None:
        return found, f"signature does not verify with {public.name}: {why}"
    if found.statement.get("predicateType") != PREDICATE_TYPE:
        return found, f"predicate is {found.statement.get('predicateType')}, not {PREDICATE_TYPE}"
    return found, None


def claims(statement: Mapping[str, Any], version: str, tag: str) -> str | None:
    """Why the statement does not name release ``version`` and ``tag`` (None when it does)."""
    predicate = statement.get("predicate") or {}
    external = (predicate.get("buildDefinition") or {}).get("externalParameters") or {}
    problems = []
    if external.get("version") != version:
        problems.append(f"names version {external.get('version')!r}, not {version}")
    if "tag" not in external:
        problems.append(f"names no tag (this release's is {tag})")
    elif external["tag"] != tag:
        problems.append(f"names tag {external['tag']!r}, not {tag}")
    return "; ".join(problems) or None
