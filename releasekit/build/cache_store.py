"""Where a built artifact is looked up before building: the local cache, then the registry.

One interface, ``CacheStore``, for both places an artifact's files may already be:

- ``LocalStore``: ``build/cache/artifacts.json`` (``releasekit.build.cache``): the files are
  still in place with the recorded sha256;
- ``RegistryStore``: an OCI artifact in the target's registry,
  ``<host>/<namespace>/cache/<kind>-<package>:<inputs hash>``, one layer per file (its path
  in the ``org.opencontainers.image.title`` annotation) and a config that records each
  file's sha256 and mode. A fetched entry is written into place only when every file
  hashes to both the layer digest and the recorded sha256; anything else (other bytes under
  the key, a missing blob) is discarded and the artifact is built again.

``Stores`` asks them in order (local, then registry, then the caller builds) and, after a
build, records the files in every store. The registry is optional: unreachable or refusing,
it is noted once and the build goes on without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from releasekit.build.artifacts import Outcome, Progress
from releasekit.build.cache import Cache, Entry
from releasekit.core import files, oci
from releasekit.core.errors import ReleaseError

__all__ = [
    "CONFIG_TYPE",
    "FILE_TYPE",
    "CacheStore",
    "Hit",
    "LocalStore",
    "RegistryStore",
    "Remote",
    "Stores",
]

ARTIFACT_TYPE = "application/vnd.releasekit.cache.v1"
CONFIG_TYPE = "application/vnd.releasekit.cache.config.v1+json"
FILE_TYPE = "application/vnd.releasekit.cache.file.v1"
DEFAULT_NAMESPACE = "ironcage"
_TITLE = "org.opencontainers.image.title"
Source = Literal["local", "registry"]


@dataclass(frozen=True)
class Remote:
    """The registry that holds the shared cache: host, namespace and how to reach it."""

    host: str
    namespace: str
    access: oci.Access = field(default_factory=oci.Access)

    @classmethod
    def parse(
        cls, registry: str, *, plain_http: bool = False, username: str = "", password: str = ""
    ) -> Remote:
        """From a target's ``registry`` (``HOST[:PORT][/NAMESPACE]``) and its credentials."""
        value = registry.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        host, _, namespace = value.partition("/")
        access = oci.Access(plain_http=plain_http, username=username, password=password)
        return cls(host, namespace or DEFAULT_NAMESPACE, access)

    def repository(self, key: str) -> str:
        """``<namespace>/cache/<kind>-<name>`` for the cache key ``<kind>:<name>``."""
        return f"{self.namespace}/cache/{key.replace(':', '-').replace('/', '-')}"

    def describe(self) -> str:
        return f"{self.host}/{self.namespace}/cache"


@dataclass(frozen=True)
class Hit:
    """A fresh entry found in a store, its files in place."""

    entry: Entry
    source: Source


class CacheStore(Protocol):
    """A place that may hold an artifact built from given inputs."""

    source: Source

    def lookup(self, key: str, inputs: str) -> Entry | None:
        """The entry of ``key`` built from ``inputs``, its files in place; None otherwise."""
        ...

    def save(self, entry: Entry) -> None:
        """Keep ``entry`` (its files are in place) for later lookups."""
        ...


class LocalStore:
    """The workspace's own cache: the files are where the last build left them."""

    source: Source = "local"

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def lookup(self, key: str, inputs: str) -> Entry | None:
        return self.cache.fresh(key, inputs)

    def save(self, entry: Entry) -> None:
        del entry  # ``Stores.record`` wrote it to the local cache first


class RegistryStore:
    """The shared cache: each entry an OCI artifact tagged with its inputs hash."""

    source: Source = "registry"

    def __init__(self, root: Path, remote: Remote, say: Progress | None = None) -> None:
        self.root, self.remote = root, remote
        self.say = say or (lambda _msg: None)
        self.broken = ""

    def _off(self, exc: ReleaseError) -> None:
        if not self.broken:
            self.broken = str(exc)
            self.say(f"registry cache {self.remote.describe()} off for this build: {exc}")

    def lookup(self, key: str, inputs: str) -> Entry | None:
        if self.broken:
            return None
        try:
            return self._pull(key, inputs)
        except ReleaseError as exc:
            self._off(exc)
            return None

    def _pull(self, key: str, inputs: str) -> Entry | None:
        host, access, repo = self.remote.host, self.remote.access, self.remote.repository(key)
        manifest = oci.fetch_manifest(host, repo, inputs, access)
        if manifest is None:
            return None
        config_ref = manifest.body.get("config", {}).get("digest", "")
        raw = oci.fetch_blob(host, repo, str(config_ref), access)
        try:
            config = json.loads(raw or b"")
            recorded = {str(k): str(v) for k, v in dict(config["digests"]).items()}
            modes = {str(k): int(v) for k, v in dict(config.get("modes", {})).items()}
        except (ValueError, KeyError, TypeError):
            self.say(f"{key} registry cache entry {repo}:{inputs[:12]} unreadable: rebuilding")
            return None
        if config.get("key") != key or config.get("inputs") != inputs:
            self.say(f"{key} registry cache entry {repo}:{inputs[:12]} names another artifact")
            return None
        fetched: dict[str, bytes] = {}
        for layer in manifest.body.get("layers", []):
            rel = str(layer.get("annotations", {}).get(_TITLE, ""))
            digest = str(layer.get("digest", ""))
            data = oci.fetch_blob(host, repo, digest, access) if rel else None
            sha = oci.blob_digest(data) if data is not None else "missing"
            if data is None or sha != digest or recorded.get(rel) != sha.removeprefix("sha256:"):
                self.say(
                    f"{key} registry cache entry {repo}:{inputs[:12]} does not match its record "
                    f"({rel or 'a layer'}: {sha}, recorded sha256:{recorded.get(rel, '-')}): "
                    "discarded, rebuilding"
                )
                return None
            fetched[rel] = data
        if not fetched or set(fetched) != set(recorded) or any(_unsafe(r) for r in fetched):
            self.say(f"{key} registry cache entry {repo}:{inputs[:12]} is incomplete: rebuilding")
            return None
        for rel, data in fetched.items():
            path = self.root / rel
            files.write_bytes(path, data, mode=modes.get(rel, 0o644))
        return Entry(key=key, inputs=inputs, outputs=tuple(sorted(fetched)), digests=recorded)

    def save(self, entry: Entry) -> None:
        if self.broken:
            return
        try:
            self._push(entry)
        except ReleaseError as exc:
            self._off(exc)

    def _push(self, entry: Entry) -> None:
        host, access, repo = self.remote.host, self.remote.access, self.remote.repository(entry.key)
        layers, modes = [], {}
        for rel in entry.outputs:
            path = self.root / rel
            data = path.read_bytes()
            modes[rel] = path.stat().st_mode & 0o777
            digest = oci.push_blob(host, repo, data, access)
            annotations = {_TITLE: rel}
            layers.append(
                {
                    "mediaType": FILE_TYPE,
                    "digest": digest,
                    "size": len(data),
                    "annotations": annotations,
                }
            )
        config = {
            "key": entry.key,
            "inputs": entry.inputs,
            "digests": entry.digests,
            "modes": modes,
        }
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest = oci.push_blob(host, repo, config_bytes, access)
        manifest = {
            "schemaVersion": 2,
            "mediaType": oci.OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {
                "mediaType": CONFIG_TYPE,
                "digest": config_digest,
                "size": len(config_bytes),
            },
            "layers": layers,
        }
        body = json.dumps(manifest, sort_keys=True).encode()
        oci.push_manifest(host, repo, entry.inputs, body, access, oci.OCI_MANIFEST)


def _unsafe(rel: str) -> bool:
    """A path that would land outside the workspace (absolute, or climbing with ``..``)."""
    return os.path.isabs(rel) or ".." in Path(rel).parts


class Stores:
    """The stores of one build, asked in order: local, then the registry (when given)."""

    def __init__(self, root: Path, remote: Remote | None = None, say: Progress | None = None):
        self.cache = Cache(root)
        chain: list[CacheStore] = [LocalStore(self.cache)]
        if remote is not None:
            chain.append(RegistryStore(root, remote, say))
        self.chain: Sequence[CacheStore] = chain

    def find(self, key: str, inputs: str) -> Hit | None:
        """The first fresh entry of ``key`` for ``inputs``; a registry hit is recorded locally."""
        for store in self.chain:
            entry = store.lookup(key, inputs)
            if entry is None:
                continue
            if store.source != "local":
                entry = self.cache.record(key, inputs, [self.cache.root / o for o in entry.outputs])
            return Hit(entry, store.source)
        return None

    def up_to_date(self, key: str, inputs: str, say: Progress, *, force: bool) -> Outcome | None:
        """The ``up to date`` outcome of ``key`` when a store holds it (never with ``force``),
        said as ``<key> up to date`` (``(registry)`` when the shared cache had it)."""
        hit = None if force else self.find(key, inputs)
        if hit is None:
            return None
        where = " (registry)" if hit.source == "registry" else ""
        say(f"{key} up to date{where}")
        outputs = tuple(self.cache.root / rel for rel in hit.entry.outputs)
        return Outcome(key, "up to date", outputs, cached_from=hit.source)

    def record(self, key: str, inputs: str, outputs: Sequence[Path]) -> Entry:
        """Remember ``outputs`` built from ``inputs`` in every store; the local entry."""
        entry = self.cache.record(key, inputs, outputs)
        for store in self.chain:
            store.save(entry)
        return entry
