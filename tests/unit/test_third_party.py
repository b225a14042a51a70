from __future__ import annotations

import json
from pathlib import Path

import pytest

from releasekit.core import manifest, workspace
from releasekit.core.artifact import Artifact
from releasekit.core.errors import ManifestError
from releasekit.deploy import helm_pins
from releasekit.publish import charts, supply_chain, targets, third_party
from releasekit.release.context import Context
from releasekit.release.plan import Options
from releasekit.release.steps.report import release_record

PINNED = "sha256:" + "e5" * 32
SERVED = "sha256:" + "5e" * 32
TABLE = f"""
[[third_party]]
name = "redis"
source = "docker.io/library/redis:7.2-bookworm"
digest = "{PINNED}"
origin = "Docker Official Image"
local = "releasekit-base/redis:7-bookworm"
"""
PIN = third_party.ThirdPartyPin(
    "redis",
    "docker.io/library/redis:7.2-bookworm",
    "Docker Official Image",
    "127.0.0.1:5000/ironcage/redis",
    SERVED,
    PINNED,
    "releasekit-base/redis:7-bookworm",
)


def test_third_party_json_round_trips(tmp_path: Path) -> None:
    path = third_party.write(tmp_path / third_party.THIRD_PARTY_FILE, [PIN])
    assert json.loads(path.read_text())["redis"] == {
        "source": "docker.io/library/redis:7.2-bookworm",
        "origin": "Docker Official Image",
        "repository": "127.0.0.1:5000/ironcage/redis",
        "digest": SERVED,
        "pinned": PINNED,
        "local": "releasekit-base/redis:7-bookworm",
    }
    assert third_party.read(path) == {"redis": PIN}
    assert PIN.ref == f"127.0.0.1:5000/ironcage/redis@{SERVED}"


def test_a_malformed_record_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / third_party.THIRD_PARTY_FILE
    path.write_text('{"redis": {"digest": "x"}}')
    with pytest.raises(ManifestError, match=rf"{path} is not a third-party record"):
        third_party.read(path)


def test_release_json_and_the_provenance_list_each_third_party_image(make_repo) -> None:
    root = make_repo()
    (root / "release.toml").write_text((root / "release.toml").read_text() + TABLE)
    ctx = Context(ws=workspace.load(manifest.load(root)), opts=Options())
    ctx.target = targets.Target(
        "sandbox", "sandbox", "http://i", "http://i/simple", "127.0.0.1:5000/ironcage", "", ""
    )
    ctx.version, ctx.commit = "1.5.0", "abc"
    ctx.record(Artifact("third-party", "redis", digest=SERVED, destination=PIN.repository))
    record = release_record(ctx, set())
    assert record["third_party"] == {"redis": PIN.to_json()}
    assert record["images"] == {}

    statement = supply_chain._statement(
        supply_chain.Record.from_data(record, {}), {"third_party": record["third_party"]}
    )
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert deps[-1] == {
        "name": "redis",
        "uri": "docker-image://127.0.0.1:5000/ironcage/redis",
        "digest": {"sha256": SERVED.removeprefix("sha256:")},
        "annotations": {
            "source": f"docker.io/library/redis:7.2-bookworm@{PINNED}",
            "origin": "Docker Official Image",
            "local": "releasekit-base/redis:7-bookworm",
        },
    }


def test_a_deploy_pins_the_charts_third_party_image(repo_root: Path, tmp_path: Path) -> None:
    (chart,) = charts.find_charts(repo_root, "agent-runtime")
    images_json = tmp_path / "dist" / "1.0.0" / "images.json"
    third_party.write(images_json.parent / third_party.THIRD_PARTY_FILE, [PIN])
    assert helm_pins.third_party_sets(chart, images_json, "reg.example.com/acme") == [
        "redis.image.registry=127.0.0.1:5000",
        "redis.image.repository=ironcage/redis",
        f"redis.image.digest={SERVED}",
    ]
    (redis,) = manifest.load(repo_root).third_party
    assert helm_pins.third_party_sets(chart, None, "reg.example.com/acme") == [
        "redis.image.registry=reg.example.com",
        "redis.image.repository=acme/redis",
        f"redis.image.digest={redis.digest}",
    ]
    assert helm_pins.third_party_sets(chart, None, None) == []
    sets = helm_pins.image_sets(chart, None, "reg.example.com/acme", frozenset({"agent-runtime"}))
    assert [s for s in sets if s.startswith("redis.")] == [
        "redis.image.registry=reg.example.com",
        "redis.image.repository=acme/redis",
        f"redis.image.digest={redis.digest}",
    ]
