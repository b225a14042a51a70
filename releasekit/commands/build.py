"""Tasks of the `build` namespace: Python distributions, the binary, the site, everything."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._build_registries import image_registry, remote_cache
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
_NO_REMOTE = "Use the local cache only: neither fetch from nor push to the target's registry."
_TARGET = (
    "Whose registry holds the shared cache: `sandbox` (default) or a [targets.NAME] of "
    "release.toml (credentials from the variables it names)."
)


def _say(message: str) -> None:
    from rich.markup import escape

    _progress_console.print(f"[bold]>[/] {escape(message)}")


def _size(size: object) -> str:
    if not isinstance(size, int):
        return "-"
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def _report(built: builds.Built, json: bool) -> None:
    from releasekit.build import artifacts

    ws_root = load_workspace().root
    rows = artifacts.outcome_rows(ws_root, [*built.outcomes, built.checksums])
    _show(built.version, rows, json)


def _show(version: str, rows: list[dict[str, object]], json: bool) -> None:
    if json:
        emit_json({"version": version, "artifacts": rows})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Artifacts {version} (dist/{version}/)")
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
        path = str(row["path"]).removeprefix(f"dist/{version}/")
        table.add_row(
            str(row["artifact"]), f"[{colour}]{status}[/]", path, _size(row["size"]), digest
        )
    out = console if console.is_terminal else Console(width=_LOG_WIDTH, highlight=False)
    out.print(table)


def _nothing_to_do(json: bool) -> bool:
    """Report a no-op build from its stamp (``releasekit.build.noop``); False when it is not.

    Plain lines, no rich: the answer must come before a console library could load.
    """
    import sys

    from releasekit.build import noop
    from releasekit.commands._common import find_root

    found = noop.check(find_root())
    if found is None:
        return False
    version, rows = found
    if json:
        emit_json({"version": version, "artifacts": rows})
        return True
    print(
        f"> nothing changed since the last complete build: {len(rows)} files up to date "
        "(`--force` rebuilds)",
        file=sys.stderr,
    )
    cells = [
        (
            str(row["artifact"]),
            str(row["path"]).removeprefix(f"dist/{version}/"),
            _size(row["size"]),
            str(row["sha256"] or "-")[:12],
        )
        for row in rows
    ]
    widths = [max(len(cell[i]) for cell in cells) for i in range(4)]
    print(f"Artifacts {version} (dist/{version}/): up to date")
    for cell in cells:
        print("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip())
    return True


def _run(
    kinds: Sequence[builds.Kind] | None,
    package: str | None,
    force: bool,
    json: bool,
    jobs: int,
    verbose: bool,
    no_remote_cache: bool = False,
    target: str = "sandbox",
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
            remote=remote_cache(ws, target, not no_remote_cache),
        )
        _report(built, json)


_FLAGS = {
    "force": _FORCE,
    "json": _JSON,
    "jobs": _JOBS,
    "verbose": _VERBOSE,
    "no_remote_cache": _NO_REMOTE,
    "target": _TARGET,
}


@task(
    help={
        "package": "Build only this package and the internal packages it needs, e.g. cli.",
        **_FLAGS,
    }
)
def python(
    c: Context,
    package: str | None = None,
    force: bool = False,
    json: bool = False,
    jobs: int = 0,
    verbose: bool = False,
    no_remote_cache: bool = False,
    target: str = "sandbox",
) -> None:
    """Build every sdist and wheel, twine check, smoke-test in a venv, write SBOMs."""
    _run(["python"], package, force, json, jobs, verbose, no_remote_cache, target)


@task(help=_FLAGS)
def binary(
    c: Context,
    force: bool = False,
    json: bool = False,
    jobs: int = 0,
    verbose: bool = False,
    no_remote_cache: bool = False,
    target: str = "sandbox",
) -> None:
    """Build the standalone `ironcage` binary (PyInstaller one-file) and smoke-test it."""
    _run(["binary"], None, force, json, jobs, verbose, no_remote_cache, target)


@task(help=_FLAGS)
def site(
    c: Context,
    force: bool = False,
    json: bool = False,
    jobs: int = 0,
    verbose: bool = False,
    no_remote_cache: bool = False,
    target: str = "sandbox",
) -> None:
    """Build the reproducible marketing site tarball."""
    _run(["site"], None, force, json, jobs, verbose, no_remote_cache, target)


@task(
    name="all",
    default=True,
    help={
        **_FLAGS,
        "shard": "Build only shard I of N of the artifact graph (e.g. 1/2) and write its "
        "files, digests and shard.json into --out.",
        "out": "The shard's folder (default build/shards/<I>-of-<N>).",
    },
)
def all_(
    c: Context,
    force: bool = False,
    json: bool = False,
    jobs: int = 0,
    verbose: bool = False,
    no_remote_cache: bool = False,
    target: str = "sandbox",
    shard: str = "",
    out: str = "",
) -> None:
    """Build everything side by side: Python dists, binary, site, images, then SHA256SUMS."""
    if shard:
        _shard(shard, out, jobs, verbose, no_remote_cache, target, json)
        return
    with reported():
        if not force and _nothing_to_do(json):
            return
    _run(None, None, force, json, jobs, verbose, no_remote_cache, target)


def _shard(
    text: str, out: str, jobs: int, verbose: bool, no_remote: bool, target: str, json: bool
) -> None:
    from pathlib import Path

    from releasekit.build import runner as builds
    from releasekit.build.shard import Shard

    with reported():
        ws = load_workspace()
        shard = Shard.parse(text)
        folder = (
            Path(out) if out else ws.root / "build" / "shards" / f"{shard.index}-of-{shard.count}"
        )
        built = builds.build_shard(
            ws,
            shard,
            folder.resolve(),
            progress=_say,
            jobs=jobs or None,
            verbose=verbose,
            registry=image_registry(ws, target),
            remote=remote_cache(ws, target, not no_remote),
        )
        _report(built, json)
        if not json:
            console.print(f"shard {shard}: {len(built.outcomes)} artifacts in {folder}")


@task(
    help={
        "all": "Also empty every local cache (artifact records, wheelhouses, dist/, BuildKit "
        "state, after stopping the toolkit's buildkitd) so the machine builds as a new one."
    }
)
def clean(c: Context, all: bool = False) -> None:
    """Remove the build's scratch folders; --all empties every local cache too."""
    from releasekit.build.clean import clean as clean_

    with reported():
        from releasekit.commands._common import find_root

        for removed in clean_(find_root(), every=all):
            console.print(f"removed {removed}")


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


@task(
    help={
        "stop": "Stop the toolkit's own buildkitd (its state stays for the next build).",
        "prime": "Import every base image and build the stages no commit changes, ahead of "
        "the first build (scripts/setup.sh runs it).",
    }
)
def buildkit(c: Context, stop: bool = False, prime: bool = False) -> None:
    """Show, --prime or --stop the BuildKit daemon the image builds use."""
    import os

    from releasekit.build.images import buildkit as bk

    with reported():
        if prime:
            from releasekit.build.images.prime import prime as prime_builder

            done = prime_builder(load_workspace(), progress=console.print)
            console.print(
                f"BuildKit primed ({len(done)} bases and stages); state in {bk.state_dir()}"
            )
            return
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


ns = Collection("build", python, binary, site, all_, images, clean, buildkit)
