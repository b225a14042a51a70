"""The standalone ``ironcage`` binary: a PyInstaller one-file build and its smoke test.

The binary bundles the interpreter, the CLI package and every internal package it depends
on (taken from their ``src/`` folders), so it runs on a machine without Python. Because
``ironcage run`` executes arbitrary user scripts with the binary's own interpreter, the
standard library is bundled whole (minus GUI, test and packaging-tool modules), not just
the modules the CLI itself imports: a script importing ``sqlite3`` or ``xml`` must work the
same from the binary as from the wheel. The smoke
test proves that: it runs the binary with an empty environment (``env -i``: no PATH, no
Python) and checks ``ironcage version`` and ``ironcage run`` of a small script, which
exercises the frozen binary's re-execution of itself as the sandboxed interpreter.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from releasekit.build import artifacts
from releasekit.build.artifacts import Outcome, Progress
from releasekit.build.cache import inputs_hash
from releasekit.build.cache_store import Stores
from releasekit.core.errors import ManifestError, PublishError
from releasekit.core.run import require_tool, run
from releasekit.core.workspace import Package, Workspace

__all__ = [
    "SCRIPT_NAME",
    "binary_name",
    "binary_packages",
    "build",
    "build_all",
    "build_package",
    "pyinstaller_argv",
    "smoke_test",
    "stdlib_args",
]

SCRIPT_NAME = "ironcage"
_SMOKE_SCRIPT = (
    "import json, sqlite3, xml.etree.ElementTree\n"
    "print('sandbox ok', sum(range(10)), json.dumps(sqlite3.sqlite_version_info[0] > 2))\n"
)
# Standard library modules left out of the binary: GUI, tests, packaging and terminal tools.
_STDLIB_EXCLUDED = (
    "_tkinter",
    "curses",
    "distutils",
    "ensurepip",
    "idlelib",
    "lib2to3",
    "pydoc_data",
    "readline",
    "test",
    "tkinter",
    "turtle",
    "turtledemo",
    "venv",
)
_STDLIB_SKIPPED = {*_STDLIB_EXCLUDED, "antigravity", "this"}
# Test suites inside standard library packages (``unittest.test``, ``ctypes.test``): some
# interpreters ship them and some do not, so they are left out for the same bytes on both.
_TEST_PACKAGES = ("test", "tests", "idle_test")
_MODULE_SUFFIXES = (".py", *importlib.machinery.EXTENSION_SUFFIXES)
# zlib level of PyInstaller's archives. Its default for the outer archive is 9, which takes
# a third of the build for half a percent of size; 6 is its default for the module archive.
ZLIB_LEVEL = "6"
_ZLIB_ENV = "PYINSTALLER_ZLIB_COMPRESSION_LEVEL"


def binary_packages(ws: Workspace) -> list[Package]:
    """Packages whose manifest entry lists the ``binary`` artifact, in build order."""
    return [ws.get(n) for n in ws.order() if "binary" in ws.get(n).spec.artifacts]


def binary_name(version: str) -> str:
    """``ironcage-<version>-<os>-<machine>``, e.g. ``ironcage-1.4.2-linux-x86_64``."""
    return f"{SCRIPT_NAME}-{version}-{platform.system().lower()}-{platform.machine()}"


def _src_dirs(ws: Workspace, pkg: Package) -> list[Path]:
    """The ``src/`` folders of ``pkg`` and its internal dependencies (transitively)."""
    return [ws.get(n).dir / "src" for n in reversed(ws.closure(pkg.name))]


def _entry_script(pkg: Package) -> Path:
    script = pkg.dir / "src" / pkg.spec.module / "__main__.py"
    if not script.is_file():
        raise ManifestError(
            f"Package `{pkg.name}` ships a binary but {script} does not exist. The binary's "
            f"entry point is `{pkg.spec.module}/__main__.py`, using absolute imports."
        )
    return script


def stdlib_args() -> list[str]:
    """PyInstaller flags bundling this interpreter's standard library (see module doc).

    A package's modules are listed from its folders (``_submodules``), nothing imported:
    PyInstaller's ``--collect-submodules`` starts an interpreter per package to import it,
    seconds of every build, and would list the test suites this leaves out.
    """
    args: list[str] = []
    excluded = list(_STDLIB_EXCLUDED)
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in _STDLIB_SKIPPED:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        locations = list(spec.submodule_search_locations or ())
        if not locations:
            args += ["--hidden-import", name]
            continue
        tests = _test_packages(name, locations)
        excluded += tests
        for module in _submodules(name, locations):
            if not any(module == t or module.startswith(f"{t}.") for t in tests):
                args += ["--hidden-import", module]
    for name in sorted(excluded):
        args += ["--exclude-module", name]
    return args


def _submodules(package: str, locations: Iterable[str]) -> list[str]:
    """``package`` and the modules and packages below it, from its folders: a module is a
    ``.py`` file or an extension in a folder that is a package (has ``__init__.py``)."""
    found = {package}
    for location in locations:
        root = Path(location)
        for init in root.rglob("__init__.py"):
            folder = init.parent
            parts = folder.relative_to(root).parts
            if not all(
                (root.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts))
            ):
                continue
            prefix = ".".join((package, *parts))
            found.add(prefix)
            for path in folder.iterdir():
                stem = path.name.split(".", 1)[0]
                if (
                    path.name.endswith(_MODULE_SUFFIXES)
                    and stem != "__init__"
                    and stem.isidentifier()
                ):
                    found.add(f"{prefix}.{stem}")
    return sorted(found)


def _test_packages(package: str, locations: Iterable[str]) -> list[str]:
    """The test suites inside ``package`` (dotted names), at any depth."""
    found = []
    for location in locations:
        root = Path(location)
        for init in root.rglob("__init__.py"):
            folder = init.parent
            if folder != root and folder.name in _TEST_PACKAGES:
                found.append(".".join((package, *folder.relative_to(root).parts)))
    return found


def pyinstaller_argv(
    pyinstaller: str,
    name: str,
    entry: Path,
    paths: Sequence[Path],
    dist: Path,
    work: Path,
    extra: Sequence[str] = (),
) -> list[str]:
    """The PyInstaller command for a one-file build of ``entry`` named ``name``."""
    argv = [pyinstaller, "--onefile", "--noconfirm", "--clean", "--log-level", "WARN"]
    argv += ["--name", name, "--distpath", str(dist)]
    argv += ["--workpath", str(work / "work"), "--specpath", str(work / "spec")]
    for path in paths:
        argv += ["--paths", str(path)]
    return [*argv, *extra, str(entry)]


def build(ws: Workspace, pkg: Package, version: str, *, epoch: str) -> Path:
    """Build the one-file binary of ``pkg`` into ``build/pyinstaller/dist/``; its path."""
    pyinstaller = require_tool("pyinstaller", "Install it with `uv pip install pyinstaller`.")
    name = binary_name(version)
    work = ws.root / "build" / "pyinstaller"
    staging = work / "dist"
    if staging.exists():
        shutil.rmtree(staging)
    argv = pyinstaller_argv(
        pyinstaller, name, _entry_script(pkg), _src_dirs(ws, pkg), staging, work, stdlib_args()
    )
    run(
        argv,
        cwd=ws.root,
        env={"SOURCE_DATE_EPOCH": epoch, "PYTHONHASHSEED": "0", _ZLIB_ENV: ZLIB_LEVEL},
        hint="PyInstaller could not build the binary; the lines above say which module failed.",
    )
    return staging / name


def smoke_test(binary: Path, version: str) -> None:
    """Run ``binary`` under ``env -i``: ``version`` and ``run`` of a script must work."""
    env_tool = shutil.which("env") or "/usr/bin/env"
    out = run([env_tool, "-i", binary, "version"], mutates=False, quiet=True, timeout=120).stdout
    if out.strip() != f"{SCRIPT_NAME} {version}":
        raise PublishError(
            f"Smoke test of {binary}: `ironcage version` printed {out.strip()!r}, expected "
            f"'{SCRIPT_NAME} {version}'. Rebuild the binary from the current sources."
        )
    with tempfile.TemporaryDirectory(prefix="releasekit-binary-") as tmp:
        script = Path(tmp) / "smoke.py"
        script.write_text(_SMOKE_SCRIPT, encoding="utf-8")
        result = run(
            [env_tool, "-i", binary, "run", script],
            cwd=tmp,
            mutates=False,
            quiet=True,
            timeout=120,
            check=False,
        )
    if result.returncode != 0 or "sandbox ok 45 true" not in result.stdout:
        raise PublishError(
            f"Smoke test of {binary}: `ironcage run smoke.py` exited {result.returncode} and "
            f"printed {result.stdout.strip()!r} (stderr {result.stderr.strip()[-500:]!r}). "
            "The frozen binary must run scripts by re-executing itself "
            "(`ironcage __sandbox-exec`)."
        )


def _pyinstaller_version() -> str:
    try:
        return importlib.metadata.version("pyinstaller")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


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
    """Build and smoke-test the binary of ``pkg`` unless its cache entry is fresh.

    Cache key ``binary:<package>``; the output is ``<folder>/bin/<binary_name>``, ``folder``
    defaulting to ``dist/<version>/``.
    """
    say = progress or (lambda _msg: None)
    if not sys.platform.startswith("linux"):
        raise PublishError("The standalone binary is built on Linux only (PyInstaller target).")
    cache = stores or Stores(ws.root)
    key = f"binary:{pkg.name}"
    extra = {
        "target": binary_name(version),
        "python": sys.version,
        "pyinstaller": _pyinstaller_version(),
        "source_date_epoch": epoch,
        "zlib": ZLIB_LEVEL,
    }
    if folder is not None:
        extra["folder"] = folder.name
    inputs = inputs_hash(ws, pkg.name, extra=extra)
    cached = cache.up_to_date(key, inputs, say, force=force)
    if cached is not None:
        return cached
    say(f"{key} building {binary_name(version)} with PyInstaller")
    staged = build(ws, pkg, version, epoch=epoch)
    say(f"{key} smoke test (env -i)")
    smoke_test(staged, version)
    dest = (folder or artifacts.dist_dir(ws, version)) / "bin"
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / staged.name
    shutil.move(str(staged), path)
    cache.record(key, inputs, [path])
    say(f"{key} built")
    return Outcome(key, "built", (path,))


def build_all(
    ws: Workspace, version: str, *, force: bool = False, progress: Progress | None = None
) -> list[Outcome]:
    """``build_package`` for every package that ships a binary (key ``binary:<pkg>``)."""
    if not sys.platform.startswith("linux"):
        raise PublishError("The standalone binary is built on Linux only (PyInstaller target).")
    epoch = artifacts.source_date_epoch(ws.root)
    return [
        build_package(ws, pkg, version, epoch=epoch, force=force, progress=progress)
        for pkg in binary_packages(ws)
    ]
