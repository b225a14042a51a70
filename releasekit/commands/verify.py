"""`invoke verify`: check a published release at its destinations."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import console, emit_json, err_console, load_workspace, reported

__all__ = ["ns"]


@task(
    name="run",
    default=True,
    help={
        "version": "The released version to check (default: the workspace's version).",
        "package": "Under policy independent: check the release of this package at --version "
        "(default: its version in the workspace).",
        "target": "Where it was published: `sandbox` (default) or a [targets.NAME] of "
        "release.toml.",
        "key": "The release's public key, a file or env://VAR (default: the sandbox's key, "
        "or the public half of the target's signing key).",
        "json": "Print every row and the verdict as JSON on stdout.",
    },
)
def verify_task(
    c: Context,
    version: str | None = None,
    target: str = "sandbox",
    key: str | None = None,
    json: bool = False,
    package: str | None = None,
) -> None:
    """Check a release where it was published: digests, signatures, SBOMs, provenance."""
    from rich.markup import escape
    from rich.table import Table

    from releasekit.publish import verify
    from releasekit.publish.trust import key_file
    from releasekit.release.verify import verify_version

    with reported():
        ws = load_workspace()
        out = err_console if json else console
        checked = verify_version(
            ws,
            version,
            target,
            key_file(ws.root, key) if key else None,
            say=lambda line: err_console.print(f"  [dim]{escape(line)}[/]"),
            package=package,
        )
        if json:
            emit_json(
                {
                    "version": checked.version,
                    "ok": not verify.failures(checked.rows),
                    "failures": verify.failures(checked.rows),
                    "rows": [row.to_json() for row in checked.rows],
                }
            )
        else:
            table = Table(title=f"release {checked.version} ({checked.target})")
            table.add_column("artifact", overflow="fold")
            table.add_column("destination", overflow="fold")
            for column in ("digest", "signature", "sbom", "provenance"):
                table.add_column(column, overflow="fold")
            for row in checked.rows:
                digest = row.digest[:19] if row.digest_check == verify.OK else row.digest_check
                table.add_row(
                    escape(row.artifact),
                    escape(row.destination),
                    escape(digest or "-"),
                    escape(row.signature),
                    escape(row.sbom),
                    escape(row.provenance),
                    style=None if row.ok else "red",
                )
            out.print(table)
        verify.raise_on_failure(checked.rows, checked.version)


ns = Collection("verify")
ns.add_task(verify_task)
