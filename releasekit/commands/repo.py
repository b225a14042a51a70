"""Repository-wide tasks: changelog, graph and doctor."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import console, emit_json, load_workspace, reported

__all__ = ["changelog", "doctor", "graph"]


@task(
    help={
        "since": "Start after this ref (default: the last release tag, or all history).",
        "write": "Prepend the notes to the changelog file named in release.toml.",
        "json": "Print the proposed bump and the parsed commits as JSON.",
    }
)
def changelog(
    c: Context, since: str | None = None, write: bool = False, json: bool = False
) -> None:
    """Propose the next bump from conventional commits and render the release notes."""
    from releasekit.core import changelog as changelog_mod
    from releasekit.core import version

    with reported():
        ws = load_workspace()
        ref = since or changelog_mod.since_ref(ws)
        commits = changelog_mod.collect(ws.root, ref)
        bump = changelog_mod.level(commits)
        current = next(iter(version.check(ws).values()))
        proposed = version.bump_version(current, bump, None) if bump else None
        notes = changelog_mod.render(ws, proposed or current, commits)
        if json:
            emit_json(
                {
                    "since": ref,
                    "bump": bump,
                    "current": current,
                    "next": proposed,
                    "commits": [
                        {
                            "sha": k.sha,
                            "type": k.type,
                            "scope": k.scope,
                            "breaking": k.breaking,
                            "subject": k.subject,
                        }
                        for k in commits
                    ],
                }
            )
            return
        console.print(f"since {ref or 'the first commit'}: {len(commits)} commits; ", end="")
        console.print(f"bump: {bump or 'none'}; next version: {proposed or current}")
        print(notes)
        if write:
            path = ws.root / ws.manifest.changelog
            old = path.read_text(encoding="utf-8") if path.exists() else "# Changelog\n\n"
            head, _, rest = old.partition("\n\n")
            path.write_text(f"{head}\n\n{notes}\n{rest}", encoding="utf-8")
            console.print(f"[green]wrote[/] {path}")


@task(
    help={
        "since": "Also list the packages affected by changes since this ref (and dependents).",
        "json": "Print packages, edges and affected packages as JSON.",
    }
)
def graph(c: Context, since: str | None = None, json: bool = False) -> None:
    """Show the packages, their internal dependencies, and what changed since a ref."""
    from rich.table import Table

    with reported():
        ws = load_workspace()
        order = ws.order()
        affected = ws.affected(since) if since else None
        if json:
            emit_json({"order": order, "edges": ws.edges(), "affected": affected, "since": since})
            return
        table = Table(title="Packages (build order)")
        for column in ("package", "depends on", "artifacts"):
            table.add_column(column)
        for name in order:
            pkg = ws.get(name)
            table.add_row(name, ", ".join(pkg.deps) or "-", ", ".join(pkg.spec.artifacts))
        console.print(table)
        if affected is not None:
            console.print(f"affected since {since}: {', '.join(affected) or 'none'}")


@task(
    help={
        "json": "Print the findings as JSON.",
        "strict": "Exit non-zero if any tool is missing.",
        "task": "Only the tools this task drives (release, build, cluster, tf.plan, ...); "
        "exits non-zero naming the setup parts that install the missing ones.",
    }
)
def doctor(c: Context, json: bool = False, strict: bool = False, task: str = "") -> None:
    """Check every external tool: found or not, its version, and how to install it."""
    from rich.table import Table

    from releasekit.core import doctor as doctor_mod
    from releasekit.core.errors import ToolMissingError

    with reported():
        checks = doctor_mod.check_all(doctor_mod.needed_by(task) if task else doctor_mod.TOOLS)
        if json:
            emit_json(
                [
                    {
                        "tool": k.tool.name,
                        "ok": k.ok,
                        "path": k.path,
                        "version": k.version,
                        "install": k.tool.install,
                    }
                    for k in checks
                ]
            )
        else:
            table = Table(title="Tools")
            for column in ("tool", "status", "version", "used for / how to install"):
                table.add_column(column)
            for k in checks:
                status = "[green]ok[/]" if k.ok else "[red]missing[/]"
                if k.path and not k.version:
                    status = "[yellow]not working[/]"
                if k.too_old:
                    status = f"[red]too old (needs >= {k.tool.minimum})[/]"
                table.add_row(
                    k.tool.name,
                    status,
                    k.version or "-",
                    k.tool.purpose if k.ok else k.tool.install,
                )
            console.print(table)
        old = [k.problem for k in checks if k.too_old]
        if old:
            raise ToolMissingError(" ".join(p for p in old if p))
        missing = [k.tool.name for k in checks if not k.ok]
        if task and missing:
            parts = [k.tool.part for k in checks if not k.ok and k.tool.part]
            raise ToolMissingError(
                f"`invoke {task}` needs {', '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} missing or not working. Install "
                f"{'them' if len(missing) > 1 else 'it'} with `sudo "
                f"{doctor_mod.setup_command(parts)}` (Debian), or as the table says."
            )
        if strict and missing:
            raise ToolMissingError(
                f"Missing or not working: {', '.join(missing)}. Run `scripts/setup.sh` as root "
                "(Debian), or install them as the table says."
            )
