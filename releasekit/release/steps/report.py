"""The report step: release notes, SHA256SUMS, release.json and the report page.

The notes, SHA256SUMS and release.json are derived from the registry and are the same bytes
on every run of a release. The page (``report.html``) and its Markdown twin
(``build/release/summary.md``, what `invoke release --summary FILE` writes) also show the
step and build times of this run, so SHA256SUMS does not list the page and nothing signs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from releasekit.build import checksums
from releasekit.core import files
from releasekit.core.artifact import Artifact
from releasekit.core.files import file_sha256
from releasekit.core.recorded import check_unknown, rehashed
from releasekit.release import report_data, report_page
from releasekit.release.context import Context
from releasekit.release.plan import RELEASE_DIR
from releasekit.release.steps.base import Step

__all__ = [
    "PAGE_FILE",
    "Report",
    "adopt_folder",
    "release_notes",
    "release_record",
    "summary_path",
    "write_report",
]

NOTES_FILE = "RELEASE_NOTES.md"
RECORD_FILE = "release.json"
PAGE_FILE = checksums.PAGE


def summary_path(root: Path) -> Path:
    """The Markdown report of the last release made here (`invoke release --summary`)."""
    return root / RELEASE_DIR / "summary.md"


def write_report(ctx: Context, listed: set[str]) -> Path:
    """Write ``dist/<version>/report.html`` and the Markdown summary; the page's path."""
    from releasekit.release.steps import steps

    order = [step.name for step in steps(ctx.ws, ctx.opts)]
    data = report_data.collect(ctx, order, listed)
    page = ctx.folder / PAGE_FILE
    files.write_text(page, report_page.html(data), mode=0o644)
    summary = summary_path(ctx.root)
    summary.parent.mkdir(parents=True, exist_ok=True)
    files.write_text(summary, report_data.markdown(data), mode=0o644)
    return page


def adopt_folder(ctx: Context) -> list[str]:
    """The files of the release folder SHA256SUMS lists, each checked against the registry.

    Every file a step recorded is hashed again and must still have its recorded sha256
    (VerificationError, exit 11, naming it otherwise); the recorded hash is never replaced
    by the file's. A file no step recorded is refused with its name, never adopted.
    release.json, which this step writes last, is not listed.
    """
    folder = ctx.folder
    listed = [rel for rel in checksums.release_files(folder) if rel != RECORD_FILE]
    recorded = ctx.artifacts.files()
    check_unknown(folder, listed, recorded)
    by_path = {a.path: a for a in recorded}
    for rel in listed:
        rehashed(folder, by_path[rel])
    return listed


def release_notes(ctx: Context) -> str:
    """RELEASE_NOTES.md: the changelog's notes, then where each published artifact went."""
    lines = [ctx.notes.rstrip(), "", "### Artifacts", ""]
    for a in ctx.artifacts.of("sdist", "wheel"):
        if a.destination:
            lines.append(f"- {a.kind} `{a.name.rsplit('/', 1)[-1]}` -> {a.destination}")
    for a in ctx.artifacts.of("binary", "site"):
        lines.append(f"- {a.kind} `{a.path}` (release asset), sha256 `{a.sha256}`")
    for name, pin in ctx.artifacts.images().items():
        lines.append(f"- image {name}: `{pin.repository}@{pin.digest}` ({', '.join(pin.tags)})")
    for a in ctx.artifacts.of("chart"):
        if a.destination:
            lines.append(f"- chart `{a.destination}`" + (f" @ `{a.digest}`" if a.digest else ""))
    if lines[-1] == "":
        return ctx.notes
    return "\n".join(lines) + "\n"


def _settled(entries: Any) -> Any:
    """``entries`` without ``status``: what a run did differs between runs, what is does not."""
    if isinstance(entries, dict):
        return {k: _settled(v) for k, v in entries.items() if k != "status"}
    if isinstance(entries, list):
        return [_settled(v) for v in entries]
    return entries


def release_record(ctx: Context, listed: set[str]) -> dict[str, Any]:
    """The content of release.json: what was published where, and the release's files.

    It holds what the release is, never what one run of it did (statuses, timings, how the
    version was chosen, what the deploy did: those stay in build/release/state.json), so
    every run of the same release writes the same bytes.
    """
    return {
        **_settled(ctx.published()),
        "tag": ctx.tag or None,
        "destinations": ctx.dest.describe(),
        "artifacts": {
            a.path: a.sha256
            for a in sorted(ctx.artifacts.files(), key=lambda a: a.path)
            if a.kind != "checksums" and a.sha256 and a.path in listed
        },
        "sboms": ctx.artifacts.sboms(),
        "registry": _settled(ctx.artifacts.to_json()),
    }


class Report(Step):
    """dist/<version>/RELEASE_NOTES.md, SHA256SUMS and release.json, from the registry."""

    name = "report"
    summary = "release.json and notes"
    writes = ("report", "artifacts")

    def run(self, ctx: Context) -> str:
        folder = ctx.folder
        files.write_text(folder / NOTES_FILE, release_notes(ctx), mode=0o644)
        ctx.record(
            Artifact(
                "notes",
                NOTES_FILE,
                path=NOTES_FILE,
                sha256=file_sha256(folder / NOTES_FILE),
                status="written",
            )
        )
        listed = set(adopt_folder(ctx))
        sums = folder / checksums.FILENAME
        files.write_text(sums, ctx.artifacts.checksums(listed), mode=0o644)
        ctx.artifacts.update(
            "checksums",
            checksums.FILENAME,
            path=checksums.FILENAME,
            sha256=file_sha256(sums),
            status="written",
        )
        data = release_record(ctx, listed)
        data.pop("remote", None)
        files.write_json(folder / RECORD_FILE, data)
        ctx.report = str((folder / RECORD_FILE).relative_to(ctx.root))
        write_report(ctx, listed)
        return f"dist/{ctx.version}/{RECORD_FILE}, {PAGE_FILE}"
