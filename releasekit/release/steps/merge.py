"""The build step of a split release: adopt the shard folders, build nothing.

`invoke release --merge DIR...` at the release commit takes the place of `build` with this
step. Each DIR is a shard folder (it holds ``shard.json``), a shard's tar, or a folder of
shard folders or tars (as a download of every build job's upload gives). The shards must
cover every artifact of the release's build exactly once, be built from this commit and
version, and every file must hash to its record; then the files are copied into
``dist/<version>/`` (with their recorded modes), hashed again, recorded in the artifact
registry, and SHA256SUMS is written. Images were pushed by digest when their shard built
them: the record carries the digests.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from releasekit.build import checksums, images
from releasekit.build import runner as builds
from releasekit.build import shard as shards
from releasekit.build.artifacts import Outcome
from releasekit.core.errors import VerificationError
from releasekit.core.files import file_sha256
from releasekit.release.context import Context
from releasekit.release.state import fault_point
from releasekit.release.steps.base import Step, check_head
from releasekit.release.steps.build import package_charts, record_outcome

__all__ = ["Merge", "shard_folders"]


def shard_folders(given: tuple[str, ...] | list[str], root: Path) -> list[Path]:
    """The shard folders ``given`` names: each one, a shard tar, or the shard folders and
    tars inside it (tars are extracted under ``build/shards/merge/``)."""
    found: list[Path] = []
    unpacked = root / "build" / "shards" / "merge"
    for name in given:
        folder = Path(name) if Path(name).is_absolute() else root / name
        if (folder / shards.RECORD).is_file():
            found.append(folder)
            continue
        if folder.suffix == ".tar" and folder.is_file():
            found.extend(shards.unpack(folder, unpacked / folder.stem))
            continue
        inside = sorted(p.parent for p in folder.glob(f"*/{shards.RECORD}"))
        for tar in sorted(folder.glob("*.tar")):
            inside.extend(shards.unpack(tar, unpacked / tar.stem))
        if not inside:
            raise VerificationError(
                f"{folder} holds no {shards.RECORD}, nor do its sub-folders: it is not a shard "
                "folder. Pass the folders `invoke build --shard I/N` wrote (or one folder "
                "holding them all)."
            )
        found.extend(inside)
    return found


def _adopt(ctx: Context, record: shards.ShardRecord) -> list[Outcome]:
    outcomes = []
    for key, entry in sorted(record.artifacts.items()):
        outputs = []
        for rel, meta in sorted(dict(entry.get("files", {})).items()):
            target = ctx.folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(record.folder / rel, target)
            target.chmod(int(meta.get("mode", 0o644)))
            if file_sha256(target) != meta.get("sha256"):
                raise VerificationError(
                    f"{target} (artifact {key}) does not hash to {meta.get('sha256')} after the "
                    f"copy from {record.folder}: check the disk, then merge again."
                )
            outputs.append(target)
        digest = str(entry.get("digest", ""))
        if key.startswith("image:") and not digest:
            raise VerificationError(
                f"Image {key.removeprefix('image:')} of the shard in {record.folder} has no "
                "digest in its record: it was not pushed by digest when the shard built it. "
                "Build that shard again with a builder that pushes images by digest."
            )
        outcomes.append(
            Outcome(
                key,
                "built",
                tuple(outputs),
                digest=digest,
                destination=str(entry.get("destination", "")),
                platforms=tuple((str(p), str(m)) for p, m in entry.get("platforms", ())),
            )
        )
    return outcomes


class Merge(Step):
    """Adopt the shard folders of a split build: cover, hashes and digests checked."""

    name = "build"
    summary = "adopt the shards of a split build (nothing is built)"
    writes = ("artifacts",)

    def __init__(self, folders: tuple[str, ...]) -> None:
        self.folders = folders

    def run(self, ctx: Context) -> str:
        check_head(ctx)
        records = [shards.read(folder) for folder in shard_folders(self.folders, ctx.root)]
        keys = builds.artifact_keys(ctx.ws)
        shards.check_cover(records, keys, ctx.version, ctx.commit)
        packaged = package_charts(ctx)
        image_packages = {spec.name: spec.package for spec in images.specs(ctx.ws)}
        adopted: dict[str, Outcome] = {}
        for record in records:
            adopted.update((o.key, o) for o in _adopt(ctx, record))
            fault_point("merge:adopting")
        for key in keys:  # in the build's order, as a one-machine release records them
            record_outcome(ctx, adopted[key], image_packages)
        path = checksums.write(ctx.folder)
        record_outcome(ctx, Outcome(checksums.FILENAME, "built", (path,)), image_packages)
        return f"{len(packaged)} charts, {len(keys)} artifacts adopted from {len(records)} shards"
