"""The standalone binary for real: PyInstaller one-file, run with an empty environment."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from releasekit.build import artifacts, binary

from .conftest import VERSION, load

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def outcomes(built_ws: Path) -> list[artifacts.Outcome]:
    return binary.build_all(load(built_ws), VERSION)


@pytest.fixture(scope="module")
def exe(built_ws: Path, outcomes) -> Path:
    return built_ws / "dist" / VERSION / "bin" / binary.binary_name(VERSION)


def test_binary_is_built_once(built_ws: Path, outcomes, exe: Path) -> None:
    assert [(o.key, o.status, o.outputs) for o in outcomes] == [("binary:cli", "built", (exe,))]
    assert exe.name == f"ironcage-{VERSION}-linux-x86_64"
    assert exe.stat().st_size > 5_000_000
    again = binary.build_all(load(built_ws), VERSION)
    assert [(o.key, o.status) for o in again] == [("binary:cli", "up to date")]


def test_binary_prints_version_without_python_or_path(exe: Path) -> None:
    out = subprocess.run(
        ["/usr/bin/env", "-i", exe, "version"], capture_output=True, text=True, check=True
    )
    assert out.stdout == f"ironcage {VERSION}\n"


@pytest.mark.parametrize(
    ("script", "code", "stdout"),
    [
        ("print('hi', 6 * 7)\n", 0, "hi 42\n"),
        (
            "import sqlite3\nprint(sqlite3.connect(':memory:').execute('select 2').fetchone())\n",
            0,
            "(2,)\n",
        ),
        ("import xml.etree.ElementTree as E\nprint(E.fromstring('<a>x</a>').text)\n", 0, "x\n"),
        ("import decimal, zoneinfo, asyncio, csv, email\nprint('ok')\n", 0, "ok\n"),
        ("raise SystemExit(3)\n", 3, ""),
        (  # the standard library's own test suites are left out
            "import unittest, ctypes\ntry:\n    import unittest.test\n"
            "except ImportError:\n    print('no test suites')\n",
            0,
            "no test suites\n",
        ),
    ],
)
def test_binary_runs_scripts_in_its_sandbox(
    exe: Path, tmp_path: Path, script: str, code: int, stdout: str
) -> None:
    (tmp_path / "s.py").write_text(script)
    result = subprocess.run(
        ["/usr/bin/env", "-i", exe, "run", "s.py"], cwd=tmp_path, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout) == (code, stdout)


def test_stdlib_is_bundled_without_gui_and_tests() -> None:
    args = binary.stdlib_args()
    pairs = list(zip(args[::2], args[1::2], strict=True))
    assert ("--hidden-import", "xml.etree.ElementTree") in pairs
    assert ("--hidden-import", "sqlite3") in pairs and (
        "--hidden-import",
        "sqlite3.dbapi2",
    ) in pairs
    assert ("--exclude-module", "unittest.test") in pairs
    assert not any(flag == "--hidden-import" and ".test." in name for flag, name in pairs)
    assert ("--exclude-module", "tkinter") in pairs
    assert not any(flag != "--exclude-module" and name == "tkinter" for flag, name in pairs)


def test_smoke_test_accepts_the_binary(exe: Path) -> None:
    binary.smoke_test(exe, VERSION)


def test_pyinstaller_argv() -> None:
    argv = binary.pyinstaller_argv(
        "pyinstaller",
        "ironcage-1.0.0-linux-x86_64",
        Path("main.py"),
        [Path("a"), Path("b")],
        Path("dist"),
        Path("work"),
        ["--hidden-import", "json"],
    )
    assert argv == [
        "pyinstaller", "--onefile", "--noconfirm", "--clean", "--log-level", "WARN",
        "--name", "ironcage-1.0.0-linux-x86_64", "--distpath", "dist",
        "--workpath", "work/work", "--specpath", "work/spec",
        "--paths", "a", "--paths", "b", "--hidden-import", "json", "main.py",
    ]  # fmt: skip
