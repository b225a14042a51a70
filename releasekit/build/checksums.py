"""``SHA256SUMS``: one line per release file, in the format ``sha256sum -c`` reads."""

from __future__ import annotations

from pathlib import Path

from releasekit.core import files
from releasekit.core.errors import PublishError
from releasekit.core.files import file_sha256

__all__ = ["FILENAME", "PAGE", "parse", "release_files", "write"]

FILENAME = "SHA256SUMS"
PROVENANCE = "provenance.intoto.jsonl"
PAGE = "report.html"
_SKIPPED_NAMES = {
    FILENAME,
    f"{FILENAME}.asc",
    f"{FILENAME}.sig",
    "state.json",
    PROVENANCE,
    PAGE,
}


def _skipped(rel: Path) -> bool:
    """Checksum files, state and lock files, and hidden (temporary) files are not listed.

    Nor is the signed provenance: it names every file's sha256 itself and is checked by
    its signature, whose bytes differ at every signing (ECDSA), while SHA256SUMS stays the
    same on every run of a release. Nor is the report page, which shows one run's times.
    """
    name = rel.name
    hidden = any(part.startswith(".") for part in rel.parts)
    return hidden or name in _SKIPPED_NAMES or name.endswith(".lock")


def release_files(folder: Path) -> list[str]:
    """The files below ``folder`` that SHA256SUMS lists (relative POSIX paths, sorted)."""
    found = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.is_file() and not _skipped(rel):
            text = rel.as_posix()
            if "\n" in text or "\\" in text:
                raise PublishError(
                    f"{path} has a newline or backslash in its name, which SHA256SUMS cannot "
                    "list plainly. Rename it."
                )
            found.append(text)
    return sorted(found)


def write(folder: Path) -> Path:
    """Write ``folder/SHA256SUMS`` (``<sha256>  <path>`` lines, sorted by path); its path."""
    if not folder.is_dir():
        raise PublishError(f"{folder} does not exist; build the artifacts first (`invoke build`).")
    lines = [f"{file_sha256(folder / rel)}  {rel}\n" for rel in release_files(folder)]
    dest = folder / FILENAME
    files.write_text(dest, "".join(lines), mode=0o644)
    return dest


def parse(path: Path) -> dict[str, str]:
    """Relative path -> sha256 of a SHA256SUMS file."""
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, _, rel = line.partition("  ")
            entries[rel.lstrip("*")] = digest
    return entries
