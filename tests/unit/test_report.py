"""The release report: step times, the build graph and its critical path, one row per artifact."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from releasekit.build import checksums
from releasekit.core import manifest, workspace
from releasekit.core.artifact import Artifact, Registry
from releasekit.core.recorded import check_unknown
from releasekit.release import report_data, report_page
from releasekit.release.context import Context
from releasekit.release.plan import Options
from releasekit.release.state import State
from releasekit.release.steps import steps
from tests.conftest import REPO

VERSION = "0.2.0"
TIMELINE = [
    {"key": "wheel:sandbox", "needs": [], "state": "done", "started": 0.1, "ended": 4.0},
    {"key": "wheel:cli", "needs": ["wheel:sandbox"], "state": "done", "started": 4.1, "ended": 6},
    {"key": "binary:cli", "needs": [], "state": "done", "started": 0.2, "ended": 30.0},
    {"key": "site:marketing-site", "needs": [], "state": "cached", "started": 6, "ended": 6.1},
    {
        "key": "image:agent-runtime",
        "needs": ["wheel:sandbox", "wheel:cli"],
        "state": "done",
        "started": 6.2,
        "ended": 41.5,
    },
]
ARTIFACTS = [
    Artifact("wheel", "python/ironcage_cli-0.2.0-py3-none-any.whl", "cli",
             "python/ironcage_cli-0.2.0-py3-none-any.whl", "ab" * 32,
             destination="http://127.0.0.1:1/", status="uploaded"),
    Artifact("sbom", "sbom/ironcage-cli-0.2.0.cdx.json", "cli",
             "sbom/ironcage-cli-0.2.0.cdx.json", "cd" * 32, status="built"),
    Artifact("binary", "bin/ironcage-0.2.0-linux-x86_64", "cli",
             "bin/ironcage-0.2.0-linux-x86_64", "ef" * 32, status="built"),
    Artifact("image", "agent-runtime", "agent-runtime", digest="sha256:" + "12" * 32,
             tags=("0.2.0",), destination="127.0.0.1:2/ironcage/agent-runtime", status="pushed"),
    Artifact("sbom", "sbom/agent-runtime-0.2.0.cdx.json", "agent-runtime",
             "sbom/agent-runtime-0.2.0.cdx.json", "34" * 32, status="built"),
    Artifact("chart", "agent-runtime-0.2.0.tgz", "agent-runtime", "charts/agent-runtime-0.2.0.tgz",
             "56" * 32, digest="sha256:" + "78" * 32,
             destination="oci://127.0.0.1:2/charts/agent-runtime:0.2.0", status="pushed"),
    Artifact("checksums", "SHA256SUMS", path="SHA256SUMS", sha256="9a" * 32, status="written"),
]  # fmt: skip
STEPS = {
    "build": (40.0, "2026-12-06T09:09:40Z", "2 charts, 5 artifacts, 4 built"),
    "preflight": (2.0, "2026-12-06T09:09:00Z", "sandbox"),
    "version": (0.0, "2026-12-06T09:09:00Z", "0.2.0 (minor)"),
    "health": (1.0, "2026-12-06T09:10:10Z", "pilot answers 0.2.0 <ok>"),
}


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    state = State(tmp_path / "state.json")
    for name, (seconds, finished, summary) in STEPS.items():
        state.steps[name] = {
            "status": "done",
            "seconds": seconds,
            "finished_at": finished,
            "outputs": {"summary": summary},
        }
    context = Context(ws=workspace.load(manifest.load(REPO)), opts=Options(), state=state)
    context.version, context.tag, context.commit = VERSION, "v0.2.0", "0123456789abcdef"
    context.artifacts = Registry(ARTIFACTS)
    context.timeline = [dict(t) for t in TIMELINE]
    context.signed = ["image agent-runtime: signed, SBOM attested", "chart other.tgz: signed"]
    context.provenance = "dist/0.2.0/provenance.intoto.jsonl"
    context.deployed = ["terraform local", "pilot 0.2.0"]
    context.health = "http://127.0.0.1:8088 answers 0.2.0"
    return context


def _data(ctx: Context) -> report_data.ReportData:
    listed = {a.path for a in ARTIFACTS if a.kind not in ("checksums", "image")}
    return report_data.collect(ctx, [s.name for s in steps(ctx.ws, ctx.opts)], listed)


def test_the_critical_path_is_the_chain_that_ended_last() -> None:
    assert report_data.critical_path(TIMELINE) == [
        "wheel:sandbox",
        "wheel:cli",
        "image:agent-runtime",
    ]
    assert report_data.critical_path([]) == []


def test_steps_are_placed_in_pipeline_order_on_one_time_axis(ctx: Context) -> None:
    bars = _data(ctx).steps
    assert [b.name for b in bars] == ["preflight", "version", "build", "health"]
    assert [(b.start, b.seconds) for b in bars] == [(0, 2), (2, 0), (2, 40), (71, 1)]


def test_each_shipped_artifact_has_its_digest_destination_signature_and_sbom(ctx: Context) -> None:
    rows = {r.name: r for r in _data(ctx).artifacts}
    assert sorted(rows) == [
        "agent-runtime",
        "agent-runtime-0.2.0.tgz",
        "bin/ironcage-0.2.0-linux-x86_64",
        "python/ironcage_cli-0.2.0-py3-none-any.whl",
    ]
    wheel = rows["python/ironcage_cli-0.2.0-py3-none-any.whl"]
    assert (wheel.digest, wheel.signature, wheel.sbom) == (
        "sha256:" + "ab" * 32,
        "in the signed provenance",
        "sbom/ironcage-cli-0.2.0.cdx.json",
    )
    image = rows["agent-runtime"]
    assert image.signature == "cosign: signed, SBOM attested"
    assert image.sbom == "sbom/agent-runtime-0.2.0.cdx.json"
    assert rows["agent-runtime-0.2.0.tgz"].signature == "unsigned"
    assert rows["bin/ironcage-0.2.0-linux-x86_64"].destination == "release asset"


def test_a_multi_platform_image_shows_its_index_and_each_platform_signed(ctx: Context) -> None:
    ctx.signed = [
        "image agent-runtime (index): signed",
        "image agent-runtime linux/amd64: signed, SBOM attested",
        "image agent-runtime linux/arm64: already signed, SBOM attested",
        "image agent-runtime-extra: signed",
    ]
    rows = {r.name: r for r in _data(ctx).artifacts}
    assert rows["agent-runtime"].signature == (
        "cosign: index: signed; linux/amd64: signed, SBOM attested; "
        "linux/arm64: already signed, SBOM attested"
    )
    assert rows["bin/ironcage-0.2.0-linux-x86_64"].destination == "release asset"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_is_self_contained_with_a_timeline_a_gantt_and_one_row_per_artifact(
    ctx: Context,
) -> None:
    data = _data(ctx)
    text = report_page.html(data)
    page = _Page()
    page.feed(text)
    assert not [a for _, a in page.tags if a.get("src")]
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg|127\.0\.0\.1)", text)
    rows = [a for t, a in page.tags if t == "tr" and "artifact" in (a.get("class") or "")]
    assert [r["data-name"] for r in rows] == [r.name for r in data.artifacts]
    assert len([a for t, a in page.tags if t == "rect" and a.get("class") == "step"]) == 4
    critical = [a for t, a in page.tags if t == "rect" and "crit" in (a.get("class") or "")]
    assert len(critical) == 3
    assert "&lt;ok&gt;" in text and "<ok>" not in text
    assert '<span id="version">0.2.0</span>' in text


def test_the_summary_lists_the_same_artifacts(ctx: Context) -> None:
    data = _data(ctx)
    text = report_data.markdown(data)
    listed = re.findall(
        r"^\| (sdist|wheel|binary|site|image|chart|third-party) \| (\S+) \|", text, re.M
    )
    assert [name for _, name in listed] == [r.name for r in data.artifacts]
    assert "Critical path: wheel:sandbox -> wheel:cli -> image:agent-runtime." in text
    assert "| build | 40.0 | 2 charts, 5 artifacts, 4 built |" in text


def test_the_page_is_neither_listed_nor_refused_in_the_release_folder(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text("<html></html>")
    (tmp_path / "RELEASE_NOTES.md").write_text("notes")
    assert checksums.release_files(tmp_path) == ["RELEASE_NOTES.md"]
    notes = Artifact("notes", "RELEASE_NOTES.md", path="RELEASE_NOTES.md", sha256="0" * 64)
    check_unknown(tmp_path, checksums.release_files(tmp_path), [notes])
