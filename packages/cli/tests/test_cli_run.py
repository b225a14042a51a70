from __future__ import annotations

import io
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ironcage_cli
from ironcage_cli.__main__ import main
from ironcage_cli._frozen import SANDBOX_EXEC, python_flags_prefix, sandbox_python

# The version this package's pyproject.toml declares (the release writes both places).
VERSION = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
    "version"
]


def _script(tmp_path: Path, code: str, name: str = "snippet.py") -> str:
    path = tmp_path / name
    path.write_text(code, encoding="utf-8")
    return str(path)


def test_version_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out == f"ironcage {ironcage_cli.__version__}\n"
    assert ironcage_cli.__version__ == VERSION


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"ironcage {VERSION}\n"


def test_python_dash_m_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ironcage_cli", "version"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout == f"ironcage {VERSION}\n"


@pytest.mark.parametrize("argv", [[], ["agents"], ["run"], ["bogus"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_run_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _script(tmp_path, "import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
    assert main(["run", path, "--timeout", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "out\n"
    assert captured.err == "err\n"


def test_run_exit_code_passes_through(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _script(tmp_path, "raise SystemExit(7)")
    assert main(["run", path]) == 7
    assert "stopped" not in capsys.readouterr().err


def test_run_exception_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", _script(tmp_path, "1/0")]) == 1
    assert "ZeroDivisionError" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("code", "options", "reason", "status"),
    [
        ("import time; time.sleep(30)", ["--timeout", "1"], "timeout", 124),
        ("while True: pass", ["--timeout", "30", "--cpu-seconds", "1"], "cpu", 128 + 24),
        ("b = bytearray(2 * 1024**3)", ["--memory-mb", "128"], "memory", 1),
        ("print('x' * 10000)", ["--output-limit", "100"], "output", 124),
    ],
)
def test_stopped_run(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    code: str,
    options: list[str],
    reason: str,
    status: int,
) -> None:
    assert main(["run", _script(tmp_path, code), *options]) == status
    err = capsys.readouterr().err
    assert f"ironcage: stopped: {reason} (" in err


def test_run_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("print(2 + 3)\n"))
    assert main(["run", "-"]) == 0
    assert capsys.readouterr().out == "5\n"


def test_run_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.py")]) == 2
    assert "ironcage: error: cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options", [["--timeout", "0"], ["--timeout", "abc"], ["--memory-mb", "-5"]]
)
def test_run_bad_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", _script(tmp_path, "pass"), *options])
    assert exc.value.code == 2


def test_run_too_little_memory_is_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", _script(tmp_path, "pass"), "--memory-mb", "4"]) == 2
    assert "memory_mb must be >= 16" in capsys.readouterr().err


# --- frozen (PyInstaller) support -------------------------------------------------------------


def test_sandbox_python_plain() -> None:
    assert sandbox_python() == sys.executable


def test_sandbox_python_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert sandbox_python() == [sys.executable, SANDBOX_EXEC]


@pytest.mark.parametrize(
    ("argv", "count"),
    [
        (["-I", "-S", "-B", "x.py"], 3),
        (["-IS", "x.py"], 1),
        (["run", "-I"], 0),
        (["-h"], 0),
        (["-", "x.py"], 0),
    ],
)
def test_python_flags_prefix(argv: list[str], count: int) -> None:
    assert python_flags_prefix(argv) == count


def test_sandbox_exec_mode(tmp_path: Path) -> None:
    path = _script(tmp_path, "import sys\nprint('argv', sys.argv[1:])\nraise SystemExit(5)\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ironcage_cli", SANDBOX_EXEC, path, "a", "b"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 5
    assert proc.stdout == "argv ['a', 'b']\n"


def test_sandbox_exec_traceback_hides_runner_frames(tmp_path: Path) -> None:
    path = _script(tmp_path, "def f():\n    raise ValueError('bad')\nf()\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ironcage_cli", SANDBOX_EXEC, path], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("Traceback (most recent call last):\n")
    assert proc.stderr.endswith("ValueError: bad\n")
    assert "runpy" not in proc.stderr
    assert "_frozen" not in proc.stderr


def test_sandbox_exec_syntax_error(tmp_path: Path) -> None:
    path = _script(tmp_path, "def (:\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ironcage_cli", SANDBOX_EXEC, path], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "SyntaxError" in proc.stderr


def test_sandbox_exec_without_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([SANDBOX_EXEC]) == 2
    assert "usage" in capsys.readouterr().err


def test_frozen_binary_acts_as_interpreter_for_python_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    path = _script(tmp_path, "print('as python')\n")
    assert main(["-I", "-S", "-B", path]) == 0
    assert capsys.readouterr().out == "as python\n"


def test_run_through_frozen_style_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Simulate a one-file binary: sys.executable is an 'ironcage' program, sys.frozen is set."""
    binary = tmp_path / "ironcage"
    binary.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ironcage_cli "$@"\n')
    binary.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(binary))
    code = (
        "import os, sys\n"
        "print('frozen run', sys.argv[0].endswith('snippet.py'))\n"
        "print(os.environ['TMPDIR'])\n"
        "raise SystemExit(4)\n"
    )
    assert main(["run", _script(tmp_path, code, "prog.py"), "--timeout", "5"]) == 4
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "frozen run True"
    # The binary's $TMPDIR (where a one-file build unpacks) is the run's own, removed after it.
    assert Path(out[1]).name == "tmp"
    assert Path(out[1]).parent.name.startswith("ironcage-sandbox-")
    assert not Path(out[1]).exists()
