"""What the report of one release shows, read from the context: steps, build graph, artifacts.

The step times come from the state file (each finished step's seconds and finish time), the
build graph's from the build step (each artifact's needs, state, start and end), and the
rows from the artifact registry. ``markdown`` renders it for `--summary` (a CI job's step
summary); ``report_page.html`` renders the same as a page. Both hold times of one run, so
neither is listed in SHA256SUMS nor signed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from releasekit.core.artifact import Artifact, Kind, Registry
from releasekit.release.context import Context

__all__ = [
    "ArtifactRow",
    "BuildBar",
    "ReportData",
    "StepBar",
    "collect",
    "critical_path",
    "markdown",
]

# The kinds a report lists: what the release ships (not its SBOMs, sums, keys, records).
SHIPPED: tuple[Kind, ...] = ("sdist", "wheel", "binary", "site", "image", "chart", "third-party")


@dataclass(frozen=True)
class StepBar:
    """One step: its start (seconds after the first step started), its seconds, its result."""

    name: str
    start: float
    seconds: float
    result: str


@dataclass(frozen=True)
class BuildBar:
    """One artifact of the build graph: waited from 0 to ``start``, then built or cached."""

    key: str
    state: str
    start: float
    end: float
    needs: tuple[str, ...]
    critical: bool

    @property
    def waited(self) -> float:
        return self.start

    @property
    def took(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ArtifactRow:
    """One shipped artifact: what it is, its digest, where it went, its signature and SBOM."""

    kind: str
    name: str
    package: str
    digest: str
    destination: str
    status: str
    signature: str
    sbom: str


@dataclass(frozen=True)
class ReportData:
    version: str
    tag: str
    commit: str
    target: str
    steps: tuple[StepBar, ...]
    build: tuple[BuildBar, ...]
    artifacts: tuple[ArtifactRow, ...]
    deployed: tuple[str, ...]
    health: str

    @property
    def total(self) -> float:
        """Seconds from the start of the first step to the end of the last."""
        return max((s.start + s.seconds for s in self.steps), default=0.0)

    @property
    def build_total(self) -> float:
        return max((b.end for b in self.build), default=0.0)


def _moment(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return None


def step_bars(recorded: Mapping[str, Mapping[str, Any]], order: Sequence[str]) -> list[StepBar]:
    """The steps the state file records, in ``order``, placed on one time axis."""
    position = {name: i for i, name in enumerate(order)}
    rows = []
    for name, entry in recorded.items():
        seconds = float(entry.get("seconds") or 0.0)
        end = _moment(str(entry.get("finished_at", "")))
        outputs = entry.get("outputs") or {}
        rows.append((name, end, seconds, str(outputs.get("summary", ""))))
    rows.sort(key=lambda r: (position.get(r[0], len(position)), r[1] or 0.0))
    starts = [end - seconds for _, end, seconds, _ in rows if end is not None]
    first = min(starts, default=0.0)
    bars = []
    for name, end, seconds, result in rows:
        start = (end - seconds - first) if end is not None else 0.0
        bars.append(StepBar(name, round(max(start, 0.0), 3), seconds, result))
    return bars


def critical_path(timeline: Sequence[Mapping[str, Any]]) -> list[str]:
    """The chain that ended last: from the last artifact back through what it waited on."""
    ends = {str(t["key"]): float(t.get("ended") or 0.0) for t in timeline}
    needs = {str(t["key"]): [str(n) for n in t.get("needs") or ()] for t in timeline}
    if not ends:
        return []
    key: str | None = max(ends, key=lambda k: (ends[k], k))
    path: list[str] = []
    while key is not None and key not in path:
        path.append(key)
        known = [n for n in needs.get(key, []) if n in ends]
        key = max(known, key=lambda k: (ends[k], k)) if known else None
    return list(reversed(path))


def build_bars(timeline: Sequence[Mapping[str, Any]]) -> list[BuildBar]:
    on_path = set(critical_path(timeline))
    bars = []
    for t in timeline:
        start = float(t.get("started") or 0.0)
        end = float(t.get("ended") or start)
        state = "cached" if t.get("state") == "cached" else str(t.get("state") or "built")
        state = "built" if state == "done" else state
        key = str(t["key"])
        needs = tuple(str(n) for n in t.get("needs") or ())
        bars.append(BuildBar(key, state, start, end, needs, key in on_path))
    return bars


def _signature(a: Artifact, signed: Sequence[str], provenance: str, listed: set[str]) -> str:
    """What signs ``a``: its cosign lines (a multi-platform image's index, then each
    platform's manifest), the signed provenance, or nothing."""
    if a.kind in ("image", "chart"):
        head = f"{a.kind} {a.name}"
        found = [
            line[len(head) :].lstrip(": ").replace("(index)", "index", 1)
            for line in signed
            if line.startswith((f"{head}: ", f"{head} "))
        ]
        return f"cosign: {'; '.join(found)}" if found else "unsigned"
    if a.path in listed and provenance:
        return "in the signed provenance"
    return "unsigned"


def _sbom(a: Artifact, sboms: Sequence[str], version: str, dists: Mapping[str, str]) -> str:
    stem = a.name if a.kind == "image" else dists.get(a.package, "")
    if a.kind not in ("image", "sdist", "wheel") or not stem:
        return ""
    wanted = f"sbom/{stem}-{version}.cdx.json"
    return wanted if wanted in sboms else ""


def artifact_rows(
    registry: Registry,
    version: str,
    signed: Sequence[str],
    provenance: str,
    listed: set[str],
    dists: Mapping[str, str],
) -> list[ArtifactRow]:
    sboms = registry.sboms()
    rows = []
    for a in registry.of(*SHIPPED):
        digest = a.digest or (f"sha256:{a.sha256}" if a.sha256 else "")
        destination = a.destination or ("release asset" if a.kind in ("binary", "site") else "")
        rows.append(
            ArtifactRow(
                a.kind,
                a.name,
                a.package,
                digest,
                destination,
                a.status,
                _signature(a, signed, provenance, listed),
                _sbom(a, sboms, version, dists),
            )
        )
    order: dict[str, int] = {kind: i for i, kind in enumerate(SHIPPED)}
    return sorted(rows, key=lambda r: (order[r.kind], r.name))


def collect(ctx: Context, order: Sequence[str], listed: set[str]) -> ReportData:
    """The report of the release in ``ctx`` (``order``: the step names, in pipeline order;
    ``listed``: the files SHA256SUMS lists, which the provenance signs)."""
    recorded = ctx.state.steps if ctx.state is not None else {}
    dists = {p.name: p.spec.dist for p in ctx.ws.packages}
    return ReportData(
        version=ctx.version,
        tag=ctx.tag,
        commit=ctx.commit,
        target=ctx.dest.name if ctx.target is not None else ctx.opts.target,
        steps=tuple(step_bars(recorded, order)),
        build=tuple(build_bars(ctx.timeline)),
        artifacts=tuple(
            artifact_rows(ctx.artifacts, ctx.version, ctx.signed, ctx.provenance, listed, dists)
        ),
        deployed=tuple(ctx.deployed),
        health=ctx.health,
    )


def _cell(text: str) -> str:
    return (text or "-").replace("|", "\\|").replace("\n", " ")


def markdown(data: ReportData) -> str:
    """The report as GitHub-flavoured Markdown (for ``$GITHUB_STEP_SUMMARY``)."""
    out = [f"## Release {data.version}", ""]
    out.append(f"Tag `{data.tag or '-'}` at `{data.commit[:12] or '-'}`, target `{data.target}`.")
    out += ["", "### Steps", "", "| step | seconds | result |", "| --- | ---: | --- |"]
    for s in data.steps:
        out.append(f"| {s.name} | {s.seconds:.1f} | {_cell(s.result)} |")
    out += ["", "### Build graph", ""]
    if data.build:
        path = [b.key for b in data.build if b.critical]
        built = sum(1 for b in data.build if b.state == "built")
        out.append(
            f"{len(data.build)} artifacts in {data.build_total:.1f} s: {built} built, "
            f"{sum(1 for b in data.build if b.state == 'cached')} cached. "
            f"Critical path: {' -> '.join(path)}."
        )
        out += [
            "",
            "| artifact | waited s | took s | state | critical |",
            "| --- | ---: | ---: | --- | --- |",
        ]
        for b in data.build:
            mark = "yes" if b.critical else ""
            out.append(f"| {b.key} | {b.waited:.1f} | {b.took:.1f} | {b.state} | {mark} |")
    else:
        out.append("No build timings recorded (the build ran in an earlier run of this release).")
    out += ["", "### Artifacts", ""]
    out += [
        "| kind | artifact | digest | destination | signature | SBOM |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in data.artifacts:
        digest = f"`{r.digest}`" if r.digest else "-"
        sbom = f"`{r.sbom}`" if r.sbom else "-"
        out.append(
            f"| {r.kind} | {_cell(r.name)} | {digest} | {_cell(r.destination)} | "
            f"{_cell(r.signature)} | {sbom} |"
        )
    out += ["", "### Deploy", ""]
    out += [f"- {_cell(d)}" for d in data.deployed] or ["- nothing deployed"]
    out.append(f"- health: {_cell(data.health)}")
    return "\n".join(out) + "\n"
