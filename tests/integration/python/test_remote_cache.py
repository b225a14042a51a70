"""The shared cache in a real registry: a fresh clone builds nothing; bad entries are rebuilt."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from releasekit.build import runner as builds
from releasekit.build.cache_store import CONFIG_TYPE, Remote
from releasekit.core import oci
from releasekit.core.files import file_sha256
from releasekit.deploy import testbed

from .conftest import VERSION, load

pytestmark = pytest.mark.integration

KINDS: tuple[builds.Kind, ...] = ("python", "binary", "site")
KEYS = ["wheel:sandbox", "wheel:agent-runtime", "wheel:cli", "binary:cli", "site:marketing-site"]


def _remote(registry: testbed.Service, namespace: str) -> Remote:
    return Remote(registry.host, namespace, oci.Access(plain_http=True))


def _files(root: Path) -> dict[str, tuple[str, int]]:
    folder = root / "dist" / VERSION
    return {
        p.relative_to(folder).as_posix(): (file_sha256(p), p.stat().st_mode & 0o777)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_fresh_clone_fetches_every_artifact_from_the_registry(
    make_ws: Callable[[], Path], registry: testbed.Service
) -> None:
    remote = _remote(registry, "fresh")
    first = make_ws()
    built = builds.build(load(first), KINDS, jobs=2, remote=remote)
    assert {o.key: o.status for o in built.outcomes} == dict.fromkeys(KEYS, "built")
    lines: list[str] = []
    fresh = make_ws()
    again = builds.build(load(fresh), KINDS, jobs=2, remote=remote, progress=lines.append)
    assert {o.key: (o.status, o.cached_from) for o in again.outcomes} == dict.fromkeys(
        KEYS, ("up to date", "registry")
    )
    assert {line for line in lines if "cached (registry)" in line} == {
        line for line in lines if line.split(" ", 1)[0] in KEYS and "up to date" in line
    }
    assert len([line for line in lines if "cached (registry)" in line]) == len(KEYS)
    assert _files(fresh) == _files(first)
    # Recorded locally: the next build finds everything in the workspace's own cache.
    local = builds.build(load(fresh), KINDS, jobs=2, remote=remote)
    assert {o.cached_from for o in local.outcomes} == {"local"}


def _corrupt(remote: Remote, key: str, inputs: str) -> None:
    """Put other bytes under the entry's tag, keeping the config that records the old ones."""
    repo = remote.repository(key)
    manifest = oci.fetch_manifest(remote.host, repo, inputs, remote.access)
    assert manifest is not None
    assert manifest.body["config"]["mediaType"] == CONFIG_TYPE
    layer = manifest.body["layers"][0]
    other = b"not the tarball that was built\n"
    layer["digest"] = oci.push_blob(remote.host, repo, other, remote.access)
    layer["size"] = len(other)
    body = json.dumps(manifest.body).encode()
    oci.push_manifest(remote.host, repo, inputs, body, remote.access, oci.OCI_MANIFEST)


def test_corrupted_entry_is_discarded_and_rebuilt(
    make_ws: Callable[[], Path], registry: testbed.Service
) -> None:
    remote = _remote(registry, "corrupt")
    kinds: tuple[builds.Kind, ...] = ("site",)
    first = make_ws()
    builds.build(load(first), kinds, remote=remote)
    entry = json.loads((first / "build/cache/artifacts.json").read_text())["entries"]
    inputs = entry["site:marketing-site"]["inputs"]
    _corrupt(remote, "site:marketing-site", inputs)
    lines: list[str] = []
    fresh = make_ws()
    again = builds.build(load(fresh), kinds, remote=remote, progress=lines.append)
    assert [(o.key, o.status) for o in again.outcomes] == [("site:marketing-site", "built")]
    assert any("does not match its record" in line and "discarded" in line for line in lines)
    assert _files(fresh) == _files(first)
    # The rebuild replaced the entry: a third clone fetches it, intact.
    third = make_ws()
    fetched = builds.build(load(third), kinds, remote=remote)
    assert [o.cached_from for o in fetched.outcomes] == ["registry"]
    assert _files(third) == _files(first)
