"""Shards of a split build: balance, dependencies, the folder and the merge's cover checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from releasekit.build import shard as shards
from releasekit.build.artifacts import Outcome
from releasekit.core.errors import ManifestError, VerificationError

# The monorepo's graph: wheels (sandbox first), the binary, the site, images on wheels.
UNITS = [
    shards.Unit("wheel:sandbox", (), 5),
    shards.Unit("wheel:agent-runtime", ("wheel:sandbox",), 5),
    shards.Unit("wheel:cli", ("wheel:sandbox",), 5),
    shards.Unit("wheel:control-panel", ("wheel:sandbox",), 5),
    shards.Unit("binary:cli", (), 40),
    shards.Unit("site:marketing-site", (), 1),
    shards.Unit("image:agent-runtime", ("wheel:agent-runtime",), 15),
    shards.Unit("image:control-panel-api", ("wheel:control-panel",), 15),
    shards.Unit("image:control-panel-web", ("image:control-panel-api",), 15),
    shards.Unit("image:marketing-site", (), 15),
]


def _load(assignment: dict[str, int], count: int, seconds: dict[str, float]) -> list[float]:
    """The seconds each shard spends: what it owns and every dependency it builds too."""
    took = {u.key: seconds.get(u.key, u.cost) for u in UNITS}
    return [
        sum(took[k] for k in shards.needed([k for k, s in assignment.items() if s == i + 1], UNITS))
        for i in range(count)
    ]


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_every_artifact_is_in_exactly_one_shard(count: int) -> None:
    assignment = shards.assign(UNITS, count)
    assert sorted(assignment) == sorted(u.key for u in UNITS)
    assert set(assignment.values()) <= set(range(1, count + 1))
    assert shards.assign(list(reversed(UNITS)), count) == assignment  # order-independent


def test_two_shards_balance_the_binary_against_the_rest() -> None:
    assignment = shards.assign(UNITS, 2)
    loads = _load(assignment, 2, {})
    total = sum(u.cost for u in UNITS)
    assert max(loads) <= 0.65 * total
    assert len({assignment["binary:cli"], assignment["image:control-panel-api"]}) == 2


def test_recorded_times_move_artifacts() -> None:
    slow_site = {"site:marketing-site": 100.0}
    assignment = shards.assign(UNITS, 2, slow_site)
    site = assignment["site:marketing-site"]
    assert assignment["binary:cli"] != site
    assert max(_load(assignment, 2, slow_site)) <= 0.65 * (sum(u.cost for u in UNITS) + 99)


def test_dependencies_stay_with_their_dependents_when_it_pays() -> None:
    chain = [
        shards.Unit("wheel:a", (), 10),
        shards.Unit("image:a", ("wheel:a",), 10),
        shards.Unit("wheel:b", (), 10),
        shards.Unit("image:b", ("wheel:b",), 10),
    ]
    assignment = shards.assign(chain, 2)
    assert assignment["wheel:a"] == assignment["image:a"]
    assert assignment["wheel:b"] == assignment["image:b"]
    assert assignment["image:a"] != assignment["image:b"]


@pytest.mark.parametrize(
    ("text", "expected"), [("1/2", shards.Shard(1, 2)), ("3/3", shards.Shard(3, 3))]
)
def test_shard_parses(text: str, expected: shards.Shard) -> None:
    assert shards.Shard.parse(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", ""])
def test_shard_refuses_bad_text(text: str) -> None:
    with pytest.raises(ManifestError, match=r"is not I/N with 1 <= I <= N"):
        shards.Shard.parse(text)


def _shard(tmp_path: Path, index: int, count: int, files: dict[str, bytes]) -> Path:
    dist = tmp_path / f"dist{index}"
    outcomes = []
    for key, data in files.items():
        name = key.replace(":", "-")
        path = dist / "python" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755)
        outcomes.append(Outcome(key, "built", (path,)))
    folder = tmp_path / f"shard{index}"
    shards.write(
        folder,
        dist,
        version="1.0.0",
        commit="c" * 40,
        shard=shards.Shard(index, count),
        assignment=dict.fromkeys(files, index),
        outcomes=outcomes,
    )
    return folder


def _records(*folders: Path) -> list[shards.ShardRecord]:
    return [shards.read(f) for f in folders]


def test_shard_folder_records_files_and_modes(tmp_path: Path) -> None:
    folder = _shard(tmp_path, 1, 1, {"wheel:a": b"a"})
    record = json.loads((folder / shards.RECORD).read_text())
    entry = record["artifacts"]["wheel:a"]["files"]["python/wheel-a"]
    assert entry["mode"] == 0o755
    assert (folder / "python" / "wheel-a").read_bytes() == b"a"
    shards.check_cover(_records(folder), ["wheel:a"], "1.0.0", "c" * 40)


def test_cover_refuses_a_missing_artifact_by_name(tmp_path: Path) -> None:
    one = _shard(tmp_path, 1, 2, {"wheel:a": b"a"})
    with pytest.raises(VerificationError, match=r"Artifact wheel:b is in no shard"):
        shards.check_cover(_records(one), ["wheel:a", "wheel:b"], "1.0.0", "c" * 40)


def test_cover_refuses_an_artifact_twice(tmp_path: Path) -> None:
    one = _shard(tmp_path, 1, 2, {"wheel:a": b"a"})
    two = _shard(tmp_path, 2, 2, {"wheel:a": b"a"})
    with pytest.raises(VerificationError, match=r"Artifact wheel:a is in more than one shard"):
        shards.check_cover(_records(one, two), ["wheel:a"], "1.0.0", "c" * 40)


def test_cover_refuses_a_changed_file_by_name(tmp_path: Path) -> None:
    one = _shard(tmp_path, 1, 2, {"wheel:a": b"a"})
    two = _shard(tmp_path, 2, 2, {"wheel:b": b"b"})
    (two / "python" / "wheel-b").write_bytes(b"other")
    with pytest.raises(VerificationError, match=r"wheel-b \(artifact wheel:b\) has sha256"):
        shards.check_cover(_records(one, two), ["wheel:a", "wheel:b"], "1.0.0", "c" * 40)


def test_cover_refuses_another_commit(tmp_path: Path) -> None:
    one = _shard(tmp_path, 1, 1, {"wheel:a": b"a"})
    with pytest.raises(VerificationError, match=r"not the release commit dddddddddddd"):
        shards.check_cover(_records(one), ["wheel:a"], "1.0.0", "d" * 40)


def test_read_refuses_a_folder_without_record(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match=r"shard.json is not a shard record"):
        shards.read(tmp_path)


def test_times_are_recorded_and_merged(tmp_path: Path) -> None:
    shards.save_times(tmp_path, {"wheel:a": 1.234})
    shards.save_times(tmp_path, {"binary:cli": 50})
    assert shards.recorded_times(tmp_path) == {"wheel:a": 1.23, "binary:cli": 50.0}


def test_merge_finds_folders_tars_and_folders_of_them(tmp_path: Path) -> None:
    from releasekit.release.steps.merge import shard_folders

    one = _shard(tmp_path, 1, 2, {"wheel:a": b"a"})
    two = _shard(tmp_path, 2, 2, {"wheel:b": b"b"})
    tar = shards.archive(two)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    tar.rename(downloads / tar.name)
    root = tmp_path / "ws"
    found = shard_folders([str(one), str(downloads)], root)
    records = _records(*found)
    assert sorted(str(r.shard) for r in records) == ["1/2", "2/2"]
    unpacked = next(r for r in records if str(r.shard) == "2/2")
    assert (unpacked.folder / "python" / "wheel-b").stat().st_mode & 0o777 == 0o755
    shards.check_cover(records, ["wheel:a", "wheel:b"], "1.0.0", "c" * 40)
    with pytest.raises(VerificationError, match=r"holds no shard.json"):
        shard_folders([str(tmp_path / "empty")], root)


def test_shard_folder_records_an_images_index_and_platforms(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    bom = dist / "sbom" / "api-1.0.0.cdx.json"
    bom.parent.mkdir(parents=True)
    bom.write_text("{}")
    pairs = (("linux/amd64", "sha256:" + "a" * 64), ("linux/arm64", "sha256:" + "b" * 64))
    image = Outcome(
        "image:api", "built", (bom,), "sha256:" + "c" * 64, "127.0.0.1:5000/ironcage/api", pairs
    )
    folder = tmp_path / "shard"
    shards.write(
        folder, dist, version="1.0.0", commit="c" * 40, shard=shards.Shard(1, 1),
        assignment={"image:api": 1}, outcomes=[image],
    )  # fmt: skip
    entry = shards.read(folder).artifacts["image:api"]
    assert entry["digest"] == image.digest
    assert entry["destination"] == image.destination
    assert [tuple(p) for p in entry["platforms"]] == list(pairs)
