"""The recorded files of a release, hashed again before any step reads them.

The sha256 the build recorded for a file of ``dist/<version>/`` is the truth: every later
step (uploads, chart pushes, signatures, provenance, SHA256SUMS, the report, release
assets) takes the file through ``rehashed``, which hashes it again and stops with a
``VerificationError`` (exit 11) naming the file and both hashes when it changed.
``unknown`` names the files of the folder that no step recorded, which are refused, never
adopted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

from releasekit.core.artifact import Artifact
from releasekit.core.errors import VerificationError
from releasekit.core.files import file_sha256

__all__ = ["check_unknown", "rehashed", "unknown"]


def _fix(folder: Path) -> str:
    return (
        f"If nobody changed it on purpose, find out what did before anything else. To finish "
        f"the release with the files it built, delete {folder} and build/release/state.json "
        "and run `invoke release --yes` again at the release commit: the build makes the same "
        "bytes again, and whatever differs from what was published stops with a conflict."
    )


def rehashed(folder: Path, artifact: Artifact) -> Path:
    """The file of ``artifact`` below ``folder``, after checking it still has its sha256.

    Raises VerificationError naming the file, the recorded and the current sha256 when it
    changed since it was recorded, or when it is gone.
    """
    path = folder / artifact.path
    if not artifact.sha256:
        raise VerificationError(
            f"{path} ({artifact.kind} {artifact.name}) has no recorded sha256, so nothing can "
            f"show it is the file the release built. {_fix(folder)}"
        )
    if not path.is_file():
        raise VerificationError(
            f"{path} is missing: the release recorded it with {artifact.sha256} (sha256) when it "
            f"built it ({artifact.kind} {artifact.name}). {_fix(folder)}"
        )
    found = file_sha256(path)
    if found != artifact.sha256:
        raise VerificationError(
            f"{path} has sha256 {found}, but the release recorded sha256 {artifact.sha256} "
            f"for it ({artifact.kind} {artifact.name}): the file changed after it was "
            f"recorded, and the release reads no changed file. {_fix(folder)}"
        )
    return path


def unknown(folder: Path, present: Iterable[str], recorded: Iterable[Artifact]) -> list[str]:
    """The paths of ``present`` (files of ``folder``) that no artifact of ``recorded`` names."""
    known = {a.path for a in recorded if a.path}
    return sorted(rel for rel in present if rel not in known)


def check_unknown(
    folder: Path,
    present: Iterable[str],
    recorded: Iterable[Artifact],
    allowed: Collection[str] = (),
) -> None:
    """Refuse files of ``folder`` no step recorded (but the names in ``allowed``).

    Raises VerificationError listing every such file.
    """
    strays = [rel for rel in unknown(folder, present, recorded) if Path(rel).name not in allowed]
    if strays:
        raise VerificationError(
            f"{folder} holds {len(strays)} file(s) no step of this release made: "
            f"{', '.join(strays)}. A release ships only what it built and recorded, so these "
            "are neither signed nor listed. Move them out of the folder, then run the same "
            "command again (a release: `invoke release --resume --yes`)."
        )
