"""One shard of a split build: which artifacts it owns, and the folder it hands over.

``assign`` splits the artifact graph into ``count`` shards balanced by the seconds each
artifact took the last time it was built (``build/cache/times.json``; a first build guesses
with each node's ``cost``). An artifact is placed, slowest first, on the shard where it adds
the least time, counting the dependencies that shard would also have to build: so
dependencies stay together unless splitting them pays, and a shard that needs an artifact
of another one builds it again, or fetches it from the shared cache, without owning it.

``write`` puts a shard's files, below ``dist/<version>/`` as they are, into one folder with
``shard.json``: the version, the commit, the whole assignment, and per artifact its files
(sha256 and mode) and, for an image, its digest and repository; ``archive`` tars that
folder (``<folder>.tar``, modes kept: an upload of loose files loses them) and ``unpack``
extracts such a tar. ``read`` and ``check_cover``
are the merge's side: every artifact of the graph in exactly one shard, every shard of one
commit and one assignment, every file hashing to its record.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releasekit.build.artifacts import Outcome
from releasekit.core import files
from releasekit.core.errors import ManifestError, VerificationError
from releasekit.core.files import file_sha256

__all__ = [
    "RECORD",
    "TIMES_FILE",
    "Shard",
    "ShardRecord",
    "Unit",
    "archive",
    "assign",
    "check_cover",
    "needed",
    "read",
    "recorded_times",
    "save_times",
    "unpack",
    "write",
]

RECORD = "shard.json"
TIMES_FILE = Path("build/cache/times.json")
_FORMAT = 1


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``, parsed from ``I/N``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, _, count = text.partition("/")
        if not (index.isdigit() and count.isdigit()) or not 1 <= int(index) <= int(count):
            raise ManifestError(
                f"--shard {text!r} is not I/N with 1 <= I <= N, e.g. --shard 1/2 for the first "
                "of two shards."
            )
        return cls(int(index), int(count))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Unit:
    """An artifact as the split sees it: its key, what it needs, and its expected seconds."""

    key: str
    needs: tuple[str, ...] = ()
    cost: float = 1.0


def needed(keys: Iterable[str], units: Sequence[Unit]) -> set[str]:
    """``keys`` and everything they need, directly or not."""
    by_key = {u.key: u for u in units}
    found: set[str] = set()
    todo = list(keys)
    while todo:
        key = todo.pop()
        if key not in found:
            found.add(key)
            todo.extend(by_key[key].needs)
    return found


def assign(
    units: Sequence[Unit], count: int, seconds: Mapping[str, float] | None = None
) -> dict[str, int]:
    """Each artifact's shard (1..``count``), balanced by ``seconds`` (else each unit's cost).

    Deterministic: the same units and times give the same assignment on every machine.
    """
    took = {u.key: float((seconds or {}).get(u.key, u.cost)) for u in units}
    order = sorted(units, key=lambda u: (-took[u.key], u.key))
    builds: list[set[str]] = [set() for _ in range(count)]
    owner: dict[str, int] = {}
    for unit in order:

        def total(shard: int, unit: Unit = unit) -> tuple[float, float, int]:
            after = builds[shard] | needed([unit.key], units)
            extra = sum(took[k] for k in after - builds[shard])
            return (sum(took[k] for k in after), extra, shard)

        best = min(range(count), key=total)
        builds[best] |= needed([unit.key], units)
        owner[unit.key] = best + 1
    return {u.key: owner[u.key] for u in units}


def recorded_times(root: Path) -> dict[str, float]:
    """The seconds each artifact's last real build took (empty when none is recorded)."""
    try:
        data = json.loads((root / TIMES_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): float(v) for k, v in dict(data).items() if isinstance(v, int | float)}


def save_times(root: Path, seconds: Mapping[str, float]) -> None:
    """Merge ``seconds`` (of artifacts that were built, not fetched) into the record."""
    if not seconds:
        return
    merged = {**recorded_times(root), **{k: round(v, 2) for k, v in seconds.items()}}
    files.write_json(root / TIMES_FILE, dict(sorted(merged.items())), redacted=False)


@dataclass(frozen=True)
class ShardRecord:
    """A shard folder's ``shard.json``, read back."""

    folder: Path
    version: str
    commit: str
    shard: Shard
    assignment: dict[str, int]
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)


def write(
    folder: Path,
    dist: Path,
    *,
    version: str,
    commit: str,
    shard: Shard,
    assignment: Mapping[str, int],
    outcomes: Sequence[Outcome],
) -> Path:
    """Copy the files of ``outcomes`` (below ``dist``) into ``folder`` with ``shard.json``."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    artifacts: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        entry: dict[str, Any] = {"status": outcome.status, "files": {}}
        for path in outcome.outputs:
            rel = path.resolve().relative_to(dist.resolve()).as_posix()
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            mode = path.stat().st_mode & 0o777
            entry["files"][rel] = {"sha256": file_sha256(path), "mode": mode}
        if outcome.digest:
            entry["digest"], entry["destination"] = outcome.digest, outcome.destination
        if outcome.platforms:  # an image's (platform, manifest digest) pairs
            entry["platforms"] = [list(pair) for pair in outcome.platforms]
        artifacts[outcome.key] = entry
    record = {
        "format": _FORMAT,
        "version": version,
        "commit": commit,
        "shard": str(shard),
        "assignment": dict(sorted(assignment.items())),
        "artifacts": artifacts,
    }
    files.write_json(folder / RECORD, record, redacted=False)
    return folder / RECORD


def read(folder: Path) -> ShardRecord:
    """The record of the shard folder ``folder``; VerificationError when it has none."""
    path = folder / RECORD
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ShardRecord(
            folder=folder,
            version=str(data["version"]),
            commit=str(data["commit"]),
            shard=Shard.parse(str(data["shard"])),
            assignment={str(k): int(v) for k, v in dict(data["assignment"]).items()},
            artifacts={str(k): dict(v) for k, v in dict(data["artifacts"]).items()},
        )
    except (OSError, ValueError, KeyError, TypeError, ManifestError) as exc:
        raise VerificationError(
            f"{path} is not a shard record ({type(exc).__name__}: {exc}). Pass the folders "
            "`invoke build --shard I/N` wrote, as the build jobs uploaded them."
        ) from None


def check_cover(
    records: Sequence[ShardRecord], keys: Sequence[str], version: str, commit: str
) -> None:
    """Every artifact of ``keys`` in exactly one shard, of this commit, with intact files.

    VerificationError naming the first artifact, shard or file that does not hold.
    """
    for record in records:
        if record.version != version or record.commit != commit:
            raise VerificationError(
                f"The shard in {record.folder} was built from {record.version} at "
                f"{record.commit[:12]}, not the release commit {commit[:12]} ({version}). "
                "Build every shard from the release commit and merge those."
            )
    owners: dict[str, list[str]] = {}
    for record in records:
        for key in record.artifacts:
            owners.setdefault(key, []).append(str(record.folder))
    twice = {k: v for k, v in owners.items() if len(v) > 1}
    if twice:
        key, where = sorted(twice.items())[0]
        raise VerificationError(
            f"Artifact {key} is in more than one shard ({', '.join(where)}): a merge takes each "
            "artifact from exactly one. Build the shards with the same --shard I/N count from "
            "the same recorded build times, and merge one folder per shard."
        )
    missing = [k for k in keys if k not in owners]
    if missing:
        counts = sorted({r.shard.count for r in records})
        seen = ", ".join(sorted(str(r.shard) for r in records)) or "none"
        raise VerificationError(
            f"Artifact {missing[0]} is in no shard (missing: {', '.join(missing)}; shards "
            f"given: {seen} of {counts}). Download every shard's folder and merge them all."
        )
    extra = sorted(set(owners) - set(keys))
    if extra:
        raise VerificationError(
            f"Artifact {extra[0]} of shard {owners[extra[0]][0]} is not part of this release's "
            "build; the shard was built from another manifest. Build it again from the release "
            "commit."
        )
    for record in records:
        for key, entry in sorted(record.artifacts.items()):
            for rel, meta in sorted(dict(entry.get("files", {})).items()):
                path = record.folder / rel
                found = file_sha256(path) if path.is_file() else "missing"
                if found != meta.get("sha256"):
                    raise VerificationError(
                        f"{path} (artifact {key}) has sha256 {found}, but its shard record "
                        f"{record.folder / RECORD} says {meta.get('sha256')}: the file changed "
                        "after the shard was built. Build that shard again and merge its folder "
                        "as uploaded."
                    )


def archive(folder: Path) -> Path:
    """``<folder>.tar`` holding ``folder`` (its name at the top), modes kept."""
    path = folder.with_name(folder.name + ".tar")
    with tarfile.open(path, "w") as tar:
        tar.add(folder, arcname=folder.name)
    return path


def unpack(path: Path, dest: Path) -> list[Path]:
    """Extract the shard tar ``path`` into ``dest``; the shard folders it held."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(path) as tar:
            tops = {Path(m.name).parts[0] for m in tar.getmembers() if m.name}
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise VerificationError(
            f"{path} is not a readable shard archive ({exc}). Upload the tar "
            "`invoke build --shard I/N` wrote, and download it unchanged."
        ) from None
    return sorted(dest / top for top in tops if (dest / top / RECORD).is_file())
