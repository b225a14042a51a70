"""``dist/<version>/report.html``: the report of one release as one self-contained page.

Everything is inline (CSS, SVG charts): the page opens from a file, offline. It shows the
version, a timeline of the steps, a Gantt chart of the build graph (each artifact's wait,
then its build or cache hit; the critical path outlined), one row per shipped artifact
(digest, destination, signature, SBOM link) and what the deploy did.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from releasekit.release.report_data import BuildBar, ReportData, StepBar

__all__ = ["html"]

_WIDTH = 960
_LABEL = 230
_ROW = 22
_COLORS = {
    "waited": "#d9dde3",
    "built": "#2e9d5b",
    "cached": "#3b7dd8",
    "failed": "#c0392b",
    "cancelled": "#a569bd",
    "waiting": "#d9dde3",
    "step": "#6c5ce7",
}

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
  max-width: 1100px; color: #1d2330; padding: 0 1em; }
h1 { font-size: 1.7em; margin-bottom: .2em; } h2 { margin-top: 1.8em; font-size: 1.25em; }
.meta { color: #5b6475; } code, .mono { font-family: ui-monospace, Menlo, monospace;
  font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin-top: .6em; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e6eb;
  vertical-align: top; }
th { background: #f4f6f9; font-weight: 600; } td.num { text-align: right; }
.digest { white-space: nowrap; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: 14px; height: 10px; margin-right: 4px;
  vertical-align: middle; }
svg text { font: 11px system-ui, sans-serif; fill: #1d2330; }
svg .axis { stroke: #eef0f3; } svg .crit { stroke: #d63031; stroke-width: 2.5; }
.health { font-weight: 600; }
"""


def _scale(total: float) -> float:
    return (_WIDTH - _LABEL - 70) / max(total, 0.001)


def _axis(total: float, height: int, scale: float) -> list[str]:
    parts = []
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if total / s <= 10), 1200)
    tick = 0.0
    while tick <= total + 1e-9:
        x = _LABEL + tick * scale
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}"/>')
        parts.append(f'<text x="{x + 2:.1f}" y="{height + 12}">{tick:g} s</text>')
        tick += step
    return parts


def _rect(x: float, y: float, w: float, color: str, title: str, css: str = "") -> str:
    extra = f' class="{css}"' if css else ""
    return (
        f'<rect{extra} x="{x:.1f}" y="{y + 3}" width="{max(w, 1.5):.1f}" height="{_ROW - 6}" '
        f'rx="2" fill="{color}"><title>{escape(title)}</title></rect>'
    )


def _steps_svg(steps: Sequence[StepBar], total: float) -> str:
    scale, height = _scale(total), len(steps) * _ROW
    parts = _axis(total, height, scale)
    for i, s in enumerate(steps):
        y = i * _ROW
        x = _LABEL + s.start * scale
        parts.append(f'<text x="4" y="{y + 15}">{escape(s.name)}</text>')
        title = f"{s.name}: {s.seconds:.1f} s, {s.result}"
        parts.append(_rect(x, y, s.seconds * scale, _COLORS["step"], title, "step"))
        parts.append(f'<text x="{x + max(s.seconds * scale, 1.5) + 4:.1f}" y="{y + 15}">'
                     f"{s.seconds:.1f} s</text>")  # fmt: skip
    return (
        f'<svg id="step-timeline" role="img" aria-label="timeline of the steps" '
        f'width="{_WIDTH}" height="{height + 18}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(parts)
        + "</svg>"
    )


def _build_svg(bars: Sequence[BuildBar], total: float) -> str:
    scale, height = _scale(total), len(bars) * _ROW
    parts = _axis(total, height, scale)
    for i, b in enumerate(bars):
        y = i * _ROW
        mark = " ★" if b.critical else ""
        parts.append(f'<text x="4" y="{y + 15}">{escape(b.key)}{mark}</text>')
        if b.waited > 0:
            title = f"{b.key} waited {b.waited:.1f} s" + (
                f" (needs {', '.join(b.needs)})" if b.needs else " for a free job"
            )
            parts.append(_rect(_LABEL, y, b.waited * scale, _COLORS["waited"], title, "waited"))
        css = f"{b.state} crit" if b.critical else b.state
        color = _COLORS.get(b.state, _COLORS["built"])
        x = _LABEL + b.start * scale
        title = f"{b.key} {b.state} in {b.took:.1f} s"
        parts.append(_rect(x, y, b.took * scale, color, title, css))
        parts.append(f'<text x="{x + max(b.took * scale, 1.5) + 4:.1f}" y="{y + 15}">'
                     f"{b.took:.1f} s</text>")  # fmt: skip
    return (
        f'<svg id="build-gantt" role="img" aria-label="Gantt chart of the build graph" '
        f'width="{_WIDTH}" height="{height + 18}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(parts)
        + "</svg>"
    )


def _legend() -> str:
    items = [("waited", "waited"), ("built", "built"), ("cached", "cached")]
    shown = "".join(
        f'<span><i style="background:{_COLORS[key]}"></i>{label}</span>' for key, label in items
    )
    crit = '<span><i style="border:2px solid #d63031"></i>critical path ★</span>'
    return f'<p class="legend">{shown}{crit}</p>'


def _short(digest: str) -> str:
    """``sha256:`` and the first 16 hex digits (the whole digest is the cell's title)."""
    return digest[:23] + "…" if len(digest) > 23 else digest or "-"


def _artifacts(data: ReportData) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("kind", "artifact", "package", "digest", "destination", "signature", "SBOM")
    )
    rows = []
    for r in data.artifacts:
        sbom = f'<a href="{escape(r.sbom)}">{escape(r.sbom)}</a>' if r.sbom else "-"
        rows.append(
            f'<tr class="artifact" data-kind="{escape(r.kind)}" data-name="{escape(r.name)}">'
            f"<td>{escape(r.kind)}</td><td class=mono>{escape(r.name)}</td>"
            f"<td>{escape(r.package or '-')}</td>"
            f'<td class="mono digest" title="{escape(r.digest)}">{escape(_short(r.digest))}</td>'
            f"<td class=mono>{escape(r.destination or '-')}</td>"
            f"<td>{escape(r.signature)}</td><td class=mono>{sbom}</td></tr>"
        )
    return (
        f'<table id="artifacts-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _steps_table(steps: Sequence[StepBar]) -> str:
    rows = "".join(
        f'<tr class="step"><td>{escape(s.name)}</td><td class=num>{s.seconds:.1f}</td>'
        f"<td>{escape(s.result)}</td></tr>"
        for s in steps
    )
    return (
        '<table id="steps-table"><thead><tr><th>step</th><th>seconds</th><th>result</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def html(data: ReportData) -> str:
    """The page, as one string of HTML with nothing to fetch."""
    version = escape(data.version)
    meta = (
        f"tag <code>{escape(data.tag or '-')}</code> at <code>{escape(data.commit[:12] or '-')}"
        f"</code> &middot; target <code>{escape(data.target)}</code> &middot; "
        f"{len(data.steps)} steps in {data.total:.1f} s &middot; {len(data.artifacts)} artifacts"
    )
    if data.build:
        path = " → ".join(b.key for b in data.build if b.critical)
        built = sum(1 for b in data.build if b.state == "built")
        cached = sum(1 for b in data.build if b.state == "cached")
        build = (
            f"<p>{len(data.build)} artifacts in {data.build_total:.1f} s: {built} built, "
            f"{cached} cached. Critical path: <span id=critical-path>{escape(path)}</span>.</p>"
            + _legend()
            + _build_svg(data.build, data.build_total)
        )
    else:
        build = "<p>No build timings recorded (the build ran in an earlier run).</p>"
    deployed = "".join(f"<li>{escape(d)}</li>" for d in data.deployed) or "<li>nothing</li>"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>Release {version}</title>'
        f"<style>{_CSS}</style></head><body>"
        f'<h1>Release <span id="version">{version}</span></h1><p class="meta">{meta}</p>'
        f'<section id="steps"><h2>Steps</h2>{_steps_svg(data.steps, data.total)}'
        f"{_steps_table(data.steps)}</section>"
        f'<section id="build"><h2>Build graph</h2>{build}</section>'
        f'<section id="artifacts"><h2>Artifacts</h2>{_artifacts(data)}</section>'
        f'<section id="deploy"><h2>Deploy</h2><ul>{deployed}</ul>'
        f'<p class="health">health: {escape(data.health or "-")}</p></section>'
        "</body></html>\n"
    )
