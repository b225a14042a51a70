"""Tasks of the `version` namespace: show, check and bump the monorepo's versions."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import console, emit_json, load_workspace, reported

__all__ = ["ns"]


@task(help={"json": "Print the versions and their sites as JSON."})
def show(c: Context, json: bool = False) -> None:
    """Show each package's version and every site that holds it."""
    from rich.table import Table

    from releasekit.core import version

    with reported():
        ws = load_workspace()
        found = version.read(ws)
        if json:
            emit_json(
                {
                    "policy": ws.manifest.policy,
                    "packages": version.current(ws),
                    "sites": [
                        {
                            "package": f.site.package,
                            "file": str(f.site.file.relative_to(ws.root)),
                            "line": f.line,
                            "kind": f.site.kind,
                            "value": f.value,
                        }
                        for f in found
                    ],
                }
            )
            return
        table = Table(title=f"Versions (policy: {ws.manifest.policy})")
        for column in ("package", "version", "sites"):
            table.add_column(column)
        versions = version.current(ws)
        for name in ws.order():
            count = sum(1 for f in found if f.site.package == name)
            table.add_row(name, versions[name], str(count))
        console.print(table)


@task
def check(c: Context) -> None:
    """Fail when any version site disagrees, naming each file and the value it holds."""
    from releasekit.core import version

    with reported():
        ws = load_workspace()
        versions = version.check(ws)
        count = len(version.read(ws))
        shown = ", ".join(sorted(set(versions.values())))
        console.print(f"[green]ok[/] {count} version sites agree ({ws.manifest.policy}): {shown}")


@task(
    help={
        "part": "Which part to bump: major, minor, patch, prerelease or release.",
        "pre_token": "Pre-release label for --part prerelease (default rc: 1.2.0-rc.1).",
        "to": "Set this exact version instead of bumping (must be higher, X.Y.Z[-pre]).",
        "package": "Under policy independent: the package to bump (its dependents follow).",
        "dry_run": "Show the changes without writing any file.",
    }
)
def bump(
    c: Context,
    part: str | None = None,
    pre_token: str = "rc",
    to: str | None = None,
    package: str | None = None,
    dry_run: bool = False,
) -> None:
    """Bump the version and write it to every version site at once."""
    from releasekit.core import version

    with reported():
        ws = load_workspace()
        bumps = version.plan_bump(ws, part=part, to=to, pre_token=pre_token, package=package)
        for b in bumps:
            console.print(f"{b.package}: {b.old} -> {b.new}")
        if dry_run:
            console.print("[yellow]dry run[/]: no file written")
            return
        from releasekit.release.chart_bumps import chart_versions_of

        charts = chart_versions_of(ws, bumps)
        for chart, chart_version in charts.items():
            console.print(f"chart {chart.parent.name}: -> {chart_version}")
        written = version.apply(ws, bumps, charts)
        version.check(ws)
        console.print(f"[green]wrote[/] {len(written)} files")


ns = Collection("version", show, check, bump)
