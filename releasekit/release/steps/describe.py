"""The plan in words, for --dry-run and the confirmation: artifacts, destinations, commands."""

from __future__ import annotations

from releasekit.core import version
from releasekit.core.workspace import Workspace
from releasekit.deploy import helm as helm_deploy
from releasekit.deploy import kube_env
from releasekit.deploy.pilot_pins import HEALTH_IMAGE
from releasekit.publish import charts
from releasekit.release.chart_bumps import chart_bumps
from releasekit.release.context import Context
from releasekit.release.independent import PackageRelease
from releasekit.release.plan import release_message
from releasekit.release.steps.base import environment

__all__ = ["describe"]


def describe(ctx: Context) -> list[str]:
    """The plan in words, for --dry-run: artifacts, destinations, tags and commands."""
    if ctx.plan:
        return _describe_packages(ctx)
    ws, new, target = ctx.ws, ctx.version, ctx.dest
    lines = [f"version {ctx.current} -> {new} ({ctx.how})"]
    lines += [
        f"write {f.site.file.relative_to(ws.root)}:{f.line} ({f.site.kind})"
        for f in version.read(ws)
    ]
    lines.append(f"$ git commit -m '{release_message(new)}'")
    lines += ["build: charts, sdists, wheels, binary, site, images, SBOMs, SHA256SUMS (cached)"]
    lines.append(
        f"$ git tag -a v{new} && git push --atomic {target.git_remote} "
        f"HEAD:refs/heads/{ws.manifest.branch} refs/tags/v{new}"
    )
    for pkg in ws.packages:
        for kind in pkg.spec.artifacts:
            if kind in {"sdist", "wheel"}:
                python = version.python_version(new)
                lines.append(f"{kind} {pkg.spec.dist} {python} -> {target.pypi_url}")
            elif kind == "binary":
                lines.append(f"binary dist/{new}/bin/ironcage-{new}-linux-x86_64 -> release assets")
            elif kind == "site":
                lines.append(f"site tarball dist/{new}/site/ -> release assets")
        for image in pkg.spec.images:
            lines.append(f"image {target.registry}/{image}: {', '.join(_tags(ws, new))}")
    for chart in charts.find_charts(ws.root):
        lines.append(f"chart {chart.name} {new} -> {target.chart_registry}")
    prov = f"dist/{new}/provenance.intoto.jsonl"
    lines.append(f"$ cosign sign every image and chart by digest, attest SBOMs; sign {prov}")
    lines.append("verify every artifact at its destination: digest, signature, provenance")
    env = environment(ctx) if ctx.opts.env != "none" else {}
    if env.get("terraform"):
        lines.append(f"$ terraform plan/apply environment {env['terraform']}")
    if env.get("helm"):
        kenv = kube_env.resolve(ws.root, ctx.opts.env)
        for up in helm_deploy.plan(ws.root, kenv, new, target.chart_registry, target.registry):
            lines.append("$ " + " ".join(up.argv))
    if env.get("compose"):
        lines.append(f"$ compose up: pilot at {new} from {target.registry}, then health checks")
    lines.append(f"report dist/{new}/release.json, RELEASE_NOTES.md, SHA256SUMS")
    return lines


def _tags(ws: Workspace, new: str) -> list[str]:
    from releasekit.build.images import tags_for

    del ws
    return [
        t if not t.startswith("sha-") else "sha-<release commit>" for t in tags_for(new, "0000000")
    ]


def _describe_packages(ctx: Context) -> list[str]:
    """The per-package plan of an independent release: each bump with its reason."""
    ws, target = ctx.ws, ctx.dest
    planned = [PackageRelease.from_json(entry) for entry in ctx.plan]
    lines = [f"release {ctx.version} ({ctx.how}):"]
    lines += [
        f"  {r.package} {r.old} -> {r.new} ({r.level}, since {r.since or 'the first commit'}): "
        + "; ".join(r.reasons)
        for r in planned
    ]
    moving = {r.package for r in planned}
    kept = [p.name for p in ws.packages if p.name not in moving]
    if kept:
        lines.append(f"  unchanged (keep their last release): {', '.join(kept)}")
    for r in planned:
        pkg = ws.get(r.package)
        for f in version.read(ws):
            if f.site.package == r.package:
                lines.append(f"write {f.site.file.relative_to(ws.root)}:{f.line} ({f.site.kind})")
        lines.append(f"write {pkg.spec.path}/CHANGELOG.md ({r.package} {r.new})")
        for kind in pkg.spec.artifacts:
            if kind in {"sdist", "wheel"}:
                where = f"{target.pypi_url}, release assets of {r.tag}"
                lines.append(f"{kind} {pkg.spec.dist} {version.python_version(r.new)} -> {where}")
            elif kind in {"binary", "site"}:
                lines.append(f"{kind} of {r.package} {r.new} -> release assets of {r.tag}")
        for image in pkg.spec.images:
            lines.append(f"image {target.registry}/{image}: {', '.join(_tags(ws, r.new))}")
    for bump in chart_bumps(ws, {r.package: r.new for r in planned}):
        lines.append(f"{bump.line()} -> {target.chart_registry}")
    tags = [r.tag for r in planned]
    subject = f"chore(release): {', '.join(tags)}"
    lines.append(f"$ git commit -m '{subject}'")
    lines += [f"$ git tag -a {tag}" for tag in tags]
    refs = " ".join(f"refs/tags/{tag}" for tag in tags)
    lines.append(
        f"$ git push --atomic {target.git_remote} HEAD:refs/heads/{ws.manifest.branch} {refs}"
    )
    lines.append(f"report dist/{ctx.version}/release.json, RELEASE_NOTES.md, SHA256SUMS")
    env = environment(ctx)
    if env.get("deploy") == "gitops":
        lines.append(
            f"gitops {ctx.opts.env}: commit {env.get('path') or f'clusters/{ctx.opts.env}'}, "
            "every chart at its package's version (released, else last released), images "
            f"pinned by dist/{ctx.version}/images.json"
        )
    elif env.get("helm"):
        lines.append(
            f"helm {env['helm']}: every chart, each at its package's version (released, else "
            f"last released), images pinned by dist/{ctx.version}/images.json"
        )
    if env.get("compose"):
        owner = next((p.name for p in ws.packages if HEALTH_IMAGE in p.spec.images), "")
        ran = {r.package: r.new for r in planned}
        answers = f"{owner} {ran[owner]}" if owner in ran else f"{owner}'s last release"
        lines.append(
            f"$ compose up: pilot runs every image by its digest in dist/{ctx.version}/images.json "
            f"(released, else kept) from {target.registry}; health answers {answers}"
        )
    return lines
