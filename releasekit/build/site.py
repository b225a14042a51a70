"""Site tarballs: each ``site`` package renders itself with its own builder.

A site package's module is a command line taking ``build --out DIR --version V --tarball
PATH`` (``python -m <module>``). It runs from the package's ``src/`` folder with the
toolkit's interpreter and ``SOURCE_DATE_EPOCH`` set to the commit time of HEAD, so the
tarball ``dist/<version>/site/<package>-<version>.tar.gz`` is byte-identical for one commit.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
from pathlib import Path

from releasekit.build import artifacts
from releasekit.build.artifacts import Outcome, Progress
from releasekit.build.cache import inputs_hash
from releasekit.build.cache_store import Stores
from releasekit.core.errors import PublishError
from releasekit.core.run import run
from releasekit.core.workspace import Package, Workspace

__all__ = [
    "build",
    "build_all",
    "build_package",
    "check_tarball",
    "site_packages",
    "tarball_name",
]


def site_packages(ws: Workspace) -> list[Package]:
    """Packages whose manifest entry lists the ``site`` artifact, in build order."""
    return [ws.get(n) for n in ws.order() if "site" in ws.get(n).spec.artifacts]


def tarball_name(pkg: Package, version: str) -> str:
    """``<package>-<version>.tar.gz``."""
    return f"{pkg.name}-{version}.tar.gz"


def build(ws: Workspace, pkg: Package, version: str, dest: Path, *, epoch: str) -> Path:
    """Render ``pkg`` into ``build/site-tarball/<package>/`` and write its tarball to ``dest``.

    The folder is the tarball's own, apart from ``build/site/`` where the site image's
    build renders the same package, so both can build at the same time.
    """
    out = ws.root / "build" / "site-tarball" / pkg.name
    if out.exists():
        shutil.rmtree(out)
    src = [str(ws.get(n).dir / "src") for n in (pkg.name, *pkg.deps)]
    pythonpath = os.pathsep.join([*src, *filter(None, [os.environ.get("PYTHONPATH", "")])])
    argv = [sys.executable, "-m", pkg.spec.module, "build", "--out", str(out)]
    run(
        [*argv, "--version", version, "--tarball", str(dest)],
        cwd=ws.root,
        env={"SOURCE_DATE_EPOCH": epoch, "PYTHONPATH": pythonpath},
        hint=f"The site builder of `{pkg.name}` (`python -m {pkg.spec.module} build`) failed; "
        "fix the content or template it names.",
    )
    return dest


def check_tarball(path: Path, version: str) -> None:
    """The tarball holds ``index.html`` stating ``version``; PublishError otherwise."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile("index.html")
            page = member.read().decode("utf-8", errors="replace") if member else ""
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise PublishError(
            f"The site tarball {path} is unreadable or has no index.html ({exc}). "
            "The site builder must write index.html at the top of the archive."
        ) from None
    if version not in page:
        raise PublishError(
            f"index.html in {path} does not mention version {version}; the site builder "
            "must print the version it was given (`--version`)."
        )


def build_package(
    ws: Workspace,
    pkg: Package,
    version: str,
    *,
    epoch: str,
    force: bool = False,
    progress: Progress | None = None,
    folder: Path | None = None,
    stores: Stores | None = None,
) -> Outcome:
    """Build the site tarball of ``pkg`` unless its cache entry (``site:<package>``) is fresh.

    The tarball lands in ``<folder>/site/``, ``folder`` defaulting to ``dist/<version>/``.
    """
    say = progress or (lambda _msg: None)
    cache = stores or Stores(ws.root)
    key = f"site:{pkg.name}"
    extra = {"version": version, "source_date_epoch": epoch}
    if folder is not None:
        extra["folder"] = folder.name
    inputs = inputs_hash(ws, pkg.name, extra=extra)
    cached = cache.up_to_date(key, inputs, say, force=force)
    if cached is not None:
        return cached
    say(f"{key} building {tarball_name(pkg, version)}")
    dest = (folder or artifacts.dist_dir(ws, version)) / "site" / tarball_name(pkg, version)
    build(ws, pkg, version, dest, epoch=epoch)
    check_tarball(dest, version)
    cache.record(key, inputs, [dest])
    say(f"{key} built")
    return Outcome(key, "built", (dest,))


def build_all(
    ws: Workspace, version: str, *, force: bool = False, progress: Progress | None = None
) -> list[Outcome]:
    """``build_package`` for every site package (cache key ``site:<package>``)."""
    epoch = artifacts.source_date_epoch(ws.root)
    return [
        build_package(ws, pkg, version, epoch=epoch, force=force, progress=progress)
        for pkg in site_packages(ws)
    ]
