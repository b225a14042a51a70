"""The typed context of one release: what it was asked, where it goes, what it made.

Every step reads and writes a ``Context``: the workspace and options, the resolved target,
the release state (for resume), callbacks for progress lines, the artifact ``Registry`` and
the outputs earlier steps produced (version, notes, commit, tag...). What a step produced
is recorded in the state file by name (``export``) and put back when a resumed release
skips that step (``restore``), so a resumed release sees the context the first run had.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releasekit.core.artifact import Artifact, Registry
from releasekit.core.workspace import Workspace
from releasekit.publish import targets
from releasekit.publish.third_party import entry as third_party_entry
from releasekit.release.plan import Options, dist_dir
from releasekit.release.state import State

__all__ = ["RECORDED", "Context"]

RECORDED = (
    "current",
    "version",
    "since",
    "how",
    "notes",
    "commit",
    "files",
    "tag",
    "remote",
    "signed",
    "provenance",
    "deployed",
    "health",
    "report",
    "artifacts",
    "timeline",
    "plan",
)
"""The context fields steps produce, in the names the state file records them by."""


def _quiet(_line: str) -> None:
    return None


@dataclass
class Context:
    """One release in progress: inputs, destinations, and every output so far."""

    ws: Workspace
    opts: Options
    progress: Callable[[str], None] | None = None
    target: targets.Target | None = None
    state: State | None = None
    """The state file of this release (None for a dry run)."""
    resuming: bool = False
    """The state file already records finished steps (a resume or a finish)."""
    # Outputs of the steps, in the order they are produced.
    current: str = ""
    version: str = ""
    since: str | None = None
    how: str = ""
    notes: str = ""
    commit: str = ""
    files: list[str] = field(default_factory=list)
    tag: str = ""
    remote: str = ""
    signed: list[str] = field(default_factory=list)
    provenance: str = ""
    deployed: list[str] = field(default_factory=list)
    health: str = ""
    report: str = ""
    artifacts: Registry = field(default_factory=Registry)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    """Each artifact of the build: what it needed, its state, when it started and ended."""
    plan: list[dict[str, Any]] = field(default_factory=list)
    """Under policy independent: each package the release releases (``PackageRelease``)."""

    @property
    def root(self) -> Path:
        return self.ws.root

    @property
    def folder(self) -> Path:
        """``dist/<version>/`` of the release."""
        return dist_dir(self.ws.root, self.version)

    @property
    def dest(self) -> targets.Target:
        """The resolved target; preflight sets it before any step that needs it."""
        if self.target is None:
            raise RuntimeError("the release target is resolved by preflight, which has not run")
        return self.target

    @property
    def say(self) -> Callable[[str], None]:
        """Where a step writes its progress lines (nowhere when nobody listens)."""
        return self.progress or _quiet

    def export(self, names: Iterable[str]) -> dict[str, Any]:
        """The fields ``names`` as JSON values, for the state file."""
        out: dict[str, Any] = {}
        for name in names:
            if name not in RECORDED:
                raise KeyError(f"{name} is not a recorded field of the release context")
            value = getattr(self, name)
            out[name] = value.to_json() if isinstance(value, Registry) else value
        return out

    def restore(self, outputs: Mapping[str, Any]) -> None:
        """Put back the fields a finished step recorded (unknown keys, e.g. summary, ignored)."""
        for name, value in outputs.items():
            if name not in RECORDED:
                continue
            if name == "artifacts":
                if isinstance(value, list):
                    self.artifacts = Registry.from_json(value)
            elif name == "timeline":
                self.timeline = [dict(t) for t in value or ()]
            elif name == "plan":
                self.plan = [dict(v) for v in value or () if isinstance(v, dict)]
            elif name in {"files", "signed", "deployed"}:
                setattr(self, name, [str(v) for v in value or ()])
            elif name == "since":
                self.since = None if value is None else str(value)
            else:
                setattr(self, name, str(value or ""))

    def record(self, artifact: Artifact) -> Artifact:
        """Record ``artifact`` in the registry."""
        return self.artifacts.add(artifact)

    def published(self) -> dict[str, Any]:
        """What the release published, in release.json's shape (python, images, charts).

        ``third_party`` lists each third-party image the release deploys, by digest. Under
        policy independent, ``packages`` lists each released package with its version and
        tag, and ``kept`` the images of the others at their last release (not this one's).
        """
        python = {
            a.name.rsplit("/", 1)[-1]: {"status": a.status, "sha256": a.sha256}
            for a in self.artifacts.of("sdist", "wheel")
            if a.destination
        }
        kept = {a.name for a in self.artifacts.of("image") if a.status == "kept"}
        pins = self.artifacts.images()
        images = {name: pin.to_json() for name, pin in pins.items() if name not in kept}
        for name, entry in images.items():
            image = self.artifacts.get("image", name)
            if image is not None and image.platforms:
                entry["platforms"] = dict(image.platforms)
        declared = {t.name: t for t in self.ws.manifest.third_party}
        third_party = {
            a.name: third_party_entry(a, declared[a.name])
            for a in self.artifacts.of("third-party")
            if a.name in declared
        }
        charts = {}
        for a in self.artifacts.of("chart"):
            entry = {"ref": a.destination, "status": a.status, "sha256": a.sha256}
            if a.digest:
                entry["digest"] = a.digest
            charts[a.name] = entry
        found: dict[str, Any] = {
            "version": self.version,
            "commit": self.commit,
            "python": python,
            "images": images,
            "third_party": third_party,
            "charts": charts,
            "remote": self.remote,
        }
        if self.plan:
            found["packages"] = {
                str(e["package"]): {"version": e["new"], "tag": e["tag"]} for e in self.plan
            }
            found["kept"] = {name: pins[name].to_json() for name in sorted(kept) if name in pins}
        return found
