"""Tasks of the `build` namespace: Python distributions, the binary, the site, everything."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import console, emit_json, lazy_console, load_workspace, reported

if TYPE_CHECKING:
    from releasekit.build import runner as builds

__all__ = ["ns"]

_progress_console = lazy_console(stderr=True, highlight=False, soft_wrap=True)
_FORCE = "Rebuild even when the build cache says the artifact is up to date."
_LOG_WIDTH = 132
_JSON = "Print the artifacts (path, size, sha256, status) as JSON instead of a table."
_JOBS = "Build at most N artifacts at the same time (default 0: the number of cores)."
_VERBOSE = "Print every line of every artifact's log (build/logs/) as it comes."


def _say(message: str) -> None:
    from rich.markup import escape

    _progress_console.print(f"[bold]>[/] {escape(message)}")


def _size(size: object) -> str:
    if not isinstance(size, int):
        return "-"
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def _report(built: builds.Built, json: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from releasekit.build import artifacts

    ws_root = load_workspace().root
    rows = artifacts.outcome_rows(ws_root, [*built.outcomes, built.checksums])
    if json:
        emit_json({"version": built.version, "artifacts": rows})
        return
    table = Table(title=f"Artifacts {built.version} (dist/{built.version}/)")
    for column in ("artifact", "status", "path", "size", "sha256"):
        table.add_column(
            column,
            justify="right" if column == "size" else "left",
            no_wrap=column != "path",
            overflow="fold",
        )
    for row in rows:
        status = str(row["status"])
        colour = "green" if status == "built" else "cyan"
        digest = str(row["sha256"] or "-")[:12]
        path = str(row["path"]).removeprefix(f"dist/{built.version}/")
        table.add_row(
            str(row["artifact"]), f"[{colour}]{status}[/]", path, _size(row["size"]), digest
        )
    out = console if console.is_terminal else Console(width=_LOG_WIDTH, highlight=False)
    out.print(table)


def _run(
    kinds: Sequence[builds.Kind] | None,
    package: str | None,
    force: bool,
    json: bool,
    jobs: int,
    verbose: bool,
) -> None:
    """Build ``kinds`` (None: every kind) side by side and report the artifacts."""
    from releasekit.build import runner as builds

    with reported():
        ws = load_workspace()
        built = builds.build(
            ws,
            builds.KINDS if kinds is None else kinds,
            packages=[package] if package else None,
            force=force,
            progress=_say,
            jobs=jobs or None,
            verbose=verbose,
        )
        _report(built, json)


@task(
    help={
        "package": "Build only this package and the internal packages it needs, e.g. cli.",
        "force": _FORCE,
        "json": _JSON,
        "jobs": _JOBS,
        "verbose": _VERBOSE,
    }
)
def python(
    c: Context,
    package: str | None = None,
    force: bool = False,
    json: bool = False,
    jobs: int = 0,
    verbose: bool = False,
) -> None:
    """Build every sdist and wheel, twine check, smoke-test in a venv, write SBOMs."""
    _run(["python"], package, force, json, jobs, verbose)


@task(help={"force": _FORCE, "json": _JSON, "jobs": _JOBS, "verbose": _VERBOSE})
def binary(
    c: Context, force: bool = False, json: bool = False, jobs: int = 0, verbose: bool = False
) -> None:
    """Build the standalone `ironcage` binary (PyInstaller one-file) and smoke-test it."""
    _run(["binary"], None, force, json, jobs, verbose)


@task(help={"force": _FORCE, "json": _JSON, "jobs": _JOBS, "verbose": _VERBOSE})
def site(
    c: Context, force: bool = False, json: bool = False, jobs: int = 0, verbose: bool = False
) -> None:
    """Build the reproducible marketing site tarball."""
    _run(["site"], None, force, json, jobs, verbose)


@task(
    name="all",
    default=True,
    help={"force": _FORCE, "json": _JSON, "jobs": _JOBS, "verbose": _VERBOSE},
)
def all_(
    c: Context, force: bool = False, json: bool = False, jobs: int = 0, verbose: bool = False
) -> None:
    """Build everything side by side: Python dists, binary, site, images, then SHA256SUMS."""
    _run(None, None, force, json, jobs, verbose)


@task(
    help={
        "package": "Build only the images of this package, e.g. control-panel.",
        "force": _FORCE,
        "json": "Print the images (tags, size, id, status) as JSON instead of a table.",
        "jobs": _JOBS,
        "verbose": _VERBOSE,
    }
)
def images(
    c: Context,
    package: str | None = None,
    force: bool = False,
    json: bool = False,
    jobs: int = 0,
    verbose: bool = False,
) -> None:
    """Build the container images with BuildKit (every platform), record digests, SBOM them."""
    from rich.console import Console
    from rich.table import Table

    from releasekit.build import runner as builds

    with reported():
        ws = load_workspace()
        packages = [package] if package else None
        version, results = builds.build_images(
            ws, packages=packages, force=force, progress=_say, jobs=jobs or None, verbose=verbose
        )
        rows = [
            {
                "image": r.name,
                "tags": [t.rpartition(":")[2] for t in r.tags],
                "repository": r.tags[0].rpartition(":")[0],
                "size": r.size,
                "id": r.image_id,
                "digest": r.digest,
                "platforms": dict(r.platforms),
                "status": r.status,
                "sbom": str(r.sbom.relative_to(ws.root)),
            }
            for r in results
        ]
        if json:
            emit_json({"version": version, "images": rows})
            return
        table = Table(title=f"Images {version}")
        for column in ("image", "tags", "digest", "platforms", "status"):
            table.add_column(column, no_wrap=column != "tags")
        for r in results:
            colour = "green" if r.status == "built" else "cyan"
            table.add_row(
                r.tags[0].rpartition(":")[0],
                ", ".join(t.rpartition(":")[2] for t in r.tags),
                r.digest.removeprefix("sha256:")[:12],
                ", ".join(p for p, _ in r.platforms),
                f"[{colour}]{r.status}[/]",
            )
        out = console if console.is_terminal else Console(width=_LOG_WIDTH, highlight=False)
        out.print(table)


@task(help={"stop": "Stop the toolkit's own buildkitd (its state stays for the next build)."})
def buildkit(c: Context, stop: bool = False) -> None:
    """Show (or --stop) the BuildKit daemon the image builds use."""
    import os

    from releasekit.build.images import buildkit as bk

    with reported():
        if stop:
            pid = bk.stop()
            console.print(f"stopped buildkitd (pid {pid})" if pid else "no buildkitd was running")
            return
        remote = os.environ.get(bk.HOST_ENV, "").strip()
        if remote:
            console.print(f"{bk.HOST_ENV}={remote}: every image builds there")
            return
        daemon = bk.running()
        where = f"at {daemon.address} (pid {daemon.pid})" if daemon else "not running"
        console.print(f"buildkitd {where}; state in {bk.state_dir()}")


ns = Collection("build", python, binary, site, all_, images, buildkit)
