"""Python distributions: reproducible sdists and wheels, their checks and SBOMs.

Every package whose manifest entry lists ``sdist`` or ``wheel`` is built with
``uv build --sdist --wheel --no-build-isolation``: the hatchling backend comes from the
toolkit's own environment instead of a fresh download per package, so a build works without
reaching an index. ``SOURCE_DATE_EPOCH`` is the commit time of HEAD, so two builds of one
commit are byte-identical. The timestamp is not part of the build cache's inputs: an
unchanged package keeps the files (and timestamps) of the commit it was last built at.

Before anything leaves the staging folder (``build/python/<version>/``), each wheel is
installed into a fresh virtual environment (``uv venv`` and ``uv pip install`` from the
built wheels only, no index) where its module imports and its console scripts answer, and a
CycloneDX SBOM is made in-process from that environment; meanwhile one ``twine check
--strict`` reads every file, and its refusal wins over anything else (the smoke venvs are
then removed). Then the files move to ``dist/<version>/python/`` and the SBOMs to
``dist/<version>/sbom/``. The packages build, and then smoke-test, side by side. ``uv``
is the one beside the interpreter (the toolkit's venv), else the one on PATH.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from releasekit.build import artifacts, sbom
from releasekit.build.artifacts import Outcome, Progress
from releasekit.build.cache import Cache, inputs_hash
from releasekit.build.cache_store import Stores
from releasekit.core.errors import ManifestError, PublishError, ToolError
from releasekit.core.files import file_sha256
from releasekit.core.run import require_tool, run
from releasekit.core.workspace import Package, Workspace

__all__ = [
    "build_all",
    "build_dists",
    "build_package",
    "cache_inputs",
    "python_packages",
    "smoke_test",
    "twine_check",
]

_PY_ARTIFACTS = {"sdist", "wheel"}
_DIST_SUFFIXES = (".whl", ".tar.gz")
_UV_HINT = (
    "The toolkit builds and smoke-tests with uv: run `scripts/setup.sh`, or "
    "`python -m pip install uv` into the toolkit's environment."
)

T = TypeVar("T")
R = TypeVar("R")


def _uv() -> str:
    return require_tool("uv", _UV_HINT)


def _each(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``fn`` over ``items`` side by side, results in order.

    Up to two workers per core: each call mostly waits on child processes. Every call
    finishes before the first failure (in the order of ``items``) is raised.
    """
    todo = list(items)
    if len(todo) < 2:
        return [fn(item) for item in todo]
    with ThreadPoolExecutor(max_workers=min(len(todo), 2 * (os.cpu_count() or 1))) as pool:
        futures = [pool.submit(fn, item) for item in todo]
    return [f.result() for f in futures]


def python_packages(ws: Workspace, names: Sequence[str] | None = None) -> list[Package]:
    """Packages that ship an sdist or wheel, dependencies first.

    With ``names``, only those and the internal packages they depend on (their wheels are
    needed to install and smoke-test them).
    """
    for name in names or ():
        pkg = ws.get(name)
        if not _PY_ARTIFACTS & set(pkg.spec.artifacts):
            raise ManifestError(
                f"{ws.manifest.path}: package `{name}` has artifacts "
                f"{list(pkg.spec.artifacts)}, none of them sdist or wheel. "
                "Add them to its `artifacts`, or pick another package."
            )
    wanted = set(ws.closure(*names)) if names else set()
    return [
        ws.get(n)
        for n in ws.order()
        if _PY_ARTIFACTS & set(ws.get(n).spec.artifacts) and (not wanted or n in wanted)
    ]


def build_dists(pkg: Package, outdir: Path, *, epoch: str) -> tuple[Path, ...]:
    """Build the sdist and wheel of ``pkg`` into the empty folder ``outdir``; their paths."""
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    argv = [_uv(), "build", "--sdist", "--wheel", "--no-build-isolation", "--no-config"]
    run(
        [*argv, "--python", sys.executable, "--out-dir", str(outdir), str(pkg.dir)],
        env={"SOURCE_DATE_EPOCH": epoch},
        hint=f"Building {pkg.dir} failed; fix the error above. The hatchling backend must be "
        "installed beside the toolkit (`uv pip install hatchling`).",
    )
    return tuple(sorted(p for p in outdir.iterdir() if p.name.endswith(_DIST_SUFFIXES)))


def twine_check(files: Sequence[Path]) -> None:
    """``twine check --strict`` over ``files``; PublishError with twine's report on failure."""
    if not files:
        return
    try:
        run(
            [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)],
            env={"NO_COLOR": "1", "COLUMNS": "200"},
            mutates=False,
            quiet=True,
        )
    except ToolError as exc:
        names = ", ".join(p.name for p in files)
        raise PublishError(
            f"`twine check --strict` refused the distributions ({names}); an index would reject "
            f"them too. Its report:\n{exc.stderr_tail}\nFix the metadata (usually `readme` or "
            "`description` in the package's pyproject.toml) and build again."
        ) from None


def _scripts(pkg: Package) -> list[str]:
    data = tomllib.loads(pkg.pyproject.read_text(encoding="utf-8"))
    return sorted(data.get("project", {}).get("scripts", {}))


def _expect(argv: Sequence[str | Path], expected: str, where: str) -> None:
    out = run(argv, mutates=False, quiet=True, timeout=60).stdout.strip()
    if out != expected:
        raise PublishError(
            f"Smoke test of {where}: `{' '.join(map(str, argv))}` printed {out!r}, "
            f"expected {expected!r}. Fix the package's version or entry point."
        )


def smoke_test(
    pkg: Package, wheel: Path, find_links: Sequence[Path], venv: Path, version: str
) -> Path:
    """Install ``wheel`` into a fresh venv from ``find_links`` only and exercise it.

    The module must import with ``__version__ == version``; every console script must
    answer ``--help``, and ``--version`` and a ``version`` command when it offers them must
    print ``<script> <version>``. Returns the venv's interpreter.
    """
    if venv.exists():
        shutil.rmtree(venv)
    uv = _uv()
    run([uv, "venv", "--quiet", "--no-config", "--python", sys.executable, str(venv)], quiet=True)
    python = venv / "bin" / "python"
    links = [arg for folder in find_links for arg in ("--find-links", str(folder))]
    pip = [uv, "pip", "install", "--quiet", "--no-config", "--no-cache", "--python", str(python)]
    run(
        [*pip, "--no-index", *links, str(wheel)],
        quiet=True,
        hint=f"{wheel.name} does not install from the built wheels alone; "
        "its dependencies on other packages must be built too.",
    )
    check_version = f"import {pkg.spec.module} as m; print(getattr(m, '__version__', {version!r}))"
    _expect([python, "-I", "-c", check_version], version, f"{wheel.name} (import)")
    for script in _scripts(pkg):
        exe = venv / "bin" / script
        usage = run([exe, "--help"], mutates=False, quiet=True, timeout=60).stdout
        if "--version" in usage:
            _expect([exe, "--version"], f"{script} {version}", wheel.name)
        if re.search(r"(\{|,)version(,|\})|^\s+version\s", usage, re.MULTILINE):
            _expect([exe, "version"], f"{script} {version}", wheel.name)
    return python


def _installed_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _wheel(files: Sequence[Path]) -> Path:
    return next(p for p in files if p.suffix == ".whl")


def _publish(files: Sequence[Path], dest: Path) -> tuple[Path, ...]:
    dest.mkdir(parents=True, exist_ok=True)
    moved = []
    for path in files:
        target = dest / path.name
        shutil.move(str(path), target)
        moved.append(target)
    return tuple(moved)


def _wheelhouse(
    folder: Path, published: Path, built: dict[str, tuple[Path, ...]], version: str
) -> Path:
    """A folder with one wheel per package: the new ones, else the published ones."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    new = [_wheel(files) for files in built.values()]
    names = {w.name for w in new}
    old = [w for w in artifacts.wheels_of(published, version) if w.name not in names]
    for wheel in [*old, *new]:
        shutil.copy2(wheel, folder / wheel.name)
    return folder


def _checked_while(
    files: Sequence[Path], scratch: Path, fn: Callable[[Package], Path], todo: Sequence[Package]
) -> list[Path]:
    """``fn`` over ``todo`` (side by side) while ``twine check`` reads ``files``.

    A refusal by twine wins over any other failure; ``scratch`` (the smoke venvs) is then
    removed, so a refused build leaves nothing but its staged distributions.
    """
    with ThreadPoolExecutor(max_workers=1) as side:
        checked = side.submit(twine_check, files)
        try:
            return _each(fn, todo)
        finally:
            refused = checked.exception()
            if refused is not None:
                shutil.rmtree(scratch, ignore_errors=True)
                raise refused from None


def _smoke_and_sbom(
    pkg: Package, wheel: Path, wheelhouse: Path, staging: Path, version: str, epoch: str
) -> Path:
    """Smoke-test ``wheel`` in a venv from ``wheelhouse``; the path of its staged SBOM."""
    digests = {artifacts.wheel_project(w): file_sha256(w) for w in wheelhouse.glob("*.whl")}
    python = smoke_test(pkg, wheel, [wheelhouse], staging / "venvs" / pkg.name, version)
    env = sbom.installed(python)
    root = next(d for d in env if sbom.canonical(d.name) == sbom.canonical(pkg.spec.dist))
    bom = sbom.python_bom(root, wheel, env, digests, timestamp=int(epoch))
    return sbom.write(bom, staging / "sbom" / f"{pkg.spec.dist}-{version}.cdx.json")


def cache_inputs(ws: Workspace, pkg: Package, version: str, epoch: str) -> str:
    """The inputs hash of ``wheel:<package>``: its files, the build tools, version and epoch."""
    tools = {name: _installed_version(name) for name in ("uv", "hatchling")}
    return inputs_hash(
        ws, pkg.name, extra={**tools, "source_date_epoch": epoch, "version": version}
    )


def build_package(
    ws: Workspace,
    pkg: Package,
    version: str,
    *,
    epoch: str,
    deps: Mapping[str, Outcome],
    force: bool = False,
    progress: Progress | None = None,
    folder: Path | None = None,
    stores: Stores | None = None,
) -> Outcome:
    """Build, check, smoke-test and SBOM ``pkg`` alone unless its cache entry is fresh.

    The build graph's step for one package. ``deps`` holds the outcomes of the internal
    packages ``pkg`` depends on (directly or not), by package name: their wheels join its
    smoke-test wheelhouse. ``twine check`` runs before the smoke test. Cache key
    ``wheel:<package>``; the outputs are the sdist, the wheel and the SBOM, in ``folder``
    (default ``dist/<version>/``: a release of packages at several versions names its own).
    """
    say = progress or (lambda _msg: None)
    cache = stores or Stores(ws.root)
    key = f"wheel:{pkg.name}"
    inputs = cache_inputs(ws, pkg, version, epoch)
    if folder is not None:
        inputs = hashlib.sha256(f"{inputs}\0{folder.name}".encode()).hexdigest()
    cached = cache.up_to_date(key, inputs, say, force=force)
    if cached is not None:
        return cached
    dist = folder or artifacts.dist_dir(ws, version)
    staging = ws.root / "build" / "python" / version
    say(f"{key} building {pkg.spec.dist} {version}")
    built = build_dists(pkg, staging / "dists" / pkg.name, epoch=epoch)
    twine_check(built)
    wheel = _wheel(built)
    closure = [other for other in python_packages(ws, [pkg.name]) if other.name != pkg.name]
    wheelhouse = staging / "wheelhouse" / pkg.name
    if wheelhouse.exists():
        shutil.rmtree(wheelhouse)
    wheelhouse.mkdir(parents=True)
    for path in [*(_wheel(deps[other.name].outputs) for other in closure), wheel]:
        shutil.copy2(path, wheelhouse / path.name)
    say(f"{key} smoke test")
    bom = _smoke_and_sbom(pkg, wheel, wheelhouse, staging, version, epoch)
    outputs = _publish(built, dist / "python") + _publish([bom], dist / "sbom")
    cache.record(key, inputs, outputs)
    say(f"{key} built")
    return Outcome(key, "built", outputs)


def build_all(
    ws: Workspace,
    version: str,
    *,
    packages: Sequence[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Build, check, smoke-test and SBOM every Python package whose inputs changed.

    Cache key ``wheel:<package>``; its outputs are the sdist, the wheel and the SBOM.
    """
    say = progress or (lambda _msg: None)
    cache = Cache(ws.root)
    dist = artifacts.dist_dir(ws, version)
    out_dir, sbom_dir = dist / "python", dist / "sbom"
    staging = ws.root / "build" / "python" / version
    epoch = artifacts.source_date_epoch(ws.root)
    outcomes: dict[str, Outcome] = {}
    stale: list[tuple[Package, str]] = []
    for pkg in python_packages(ws, packages):
        key = f"wheel:{pkg.name}"
        inputs = cache_inputs(ws, pkg, version, epoch)
        entry = None if force else cache.fresh(key, inputs)
        if entry is None:
            stale.append((pkg, inputs))
        else:
            say(f"{key} up to date")
            outputs = tuple(ws.root / rel for rel in entry.outputs)
            outcomes[pkg.name] = Outcome(key, "up to date", outputs)

    todo = [pkg for pkg, _ in stale]

    def build(pkg: Package) -> tuple[Path, ...]:
        say(f"wheel:{pkg.name} building {pkg.spec.dist} {version}")
        return build_dists(pkg, staging / "dists" / pkg.name, epoch=epoch)

    built = dict(zip([pkg.name for pkg in todo], _each(build, todo), strict=True))
    wheelhouse = _wheelhouse(staging / "wheelhouse" / "all", out_dir, built, version)

    def smoke_and_sbom(pkg: Package) -> Path:
        say(f"wheel:{pkg.name} smoke test")
        return _smoke_and_sbom(pkg, _wheel(built[pkg.name]), wheelhouse, staging, version, epoch)

    files = [path for paths in built.values() for path in paths]
    boms = dict(
        zip(built, _checked_while(files, staging / "venvs", smoke_and_sbom, todo), strict=True)
    )

    for pkg, inputs in stale:
        key = f"wheel:{pkg.name}"
        outputs = _publish(built[pkg.name], out_dir) + _publish([boms[pkg.name]], sbom_dir)
        cache.record(key, inputs, outputs)
        outcomes[pkg.name] = Outcome(key, "built", outputs)
        say(f"{key} built")
    return [outcomes[pkg.name] for pkg in python_packages(ws, packages)]
