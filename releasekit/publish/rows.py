"""One row per checked artifact of `invoke verify`, and the error that names the failed ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from releasekit.core.errors import VerificationError

__all__ = ["NA", "OK", "Row", "failures", "raise_on_failure"]

OK = "ok"
NA = "-"


@dataclass(frozen=True)
class Row:
    """One artifact: where it was checked, the digest found there, and each check's verdict."""

    artifact: str
    destination: str
    digest: str
    digest_check: str = OK
    signature: str = NA
    sbom: str = NA
    provenance: str = NA

    @property
    def problems(self) -> list[str]:
        """``what: why`` for every check that did not pass."""
        checks = (
            ("digest", self.digest_check),
            ("signature", self.signature),
            ("SBOM attestation", self.sbom),
            ("provenance", self.provenance),
        )
        return [f"{what}: {verdict}" for what, verdict in checks if verdict not in (OK, NA)]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact,
            "destination": self.destination,
            "digest": self.digest,
            "digest_check": self.digest_check,
            "signature": self.signature,
            "sbom": self.sbom,
            "provenance": self.provenance,
            "ok": self.ok,
        }


def failures(rows: list[Row]) -> list[str]:
    """``artifact (destination): what: why`` for every failed check."""
    return [
        f"{row.artifact} ({row.destination}): {problem}" for row in rows for problem in row.problems
    ]


def raise_on_failure(rows: list[Row], version: str) -> None:
    """VerificationError naming every failed artifact and check."""
    found = failures(rows)
    if found:
        raise VerificationError(
            f"Release {version} does not verify ({len(found)} failed "
            f"{'check' if len(found) == 1 else 'checks'}):\n  "
            + "\n  ".join(found)
            + "\nWhat a destination serves is no longer what was released, or is not signed by "
            "the release key: find out why, and release a new version rather than re-pushing "
            "this one."
        )
