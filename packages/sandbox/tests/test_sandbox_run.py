from __future__ import annotations

import os
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import ironcage_sandbox
from ironcage_sandbox import Result, SandboxError, interpreter_argv, run

# The version this package's pyproject.toml declares (the release writes both places).
VERSION = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
    "version"
]


def test_version_is_literal() -> None:
    assert ironcage_sandbox.__version__ == VERSION


def test_normal_snippet_returns_stdout_and_exit_zero() -> None:
    result = run("print(6 * 7)", timeout=2)
    assert isinstance(result, Result)
    assert result.stdout == "42\n"
    assert result.stderr == ""
    assert result.exit_code == 0
    assert result.stopped == "exited"
    assert result.ok
    assert 0 < result.duration < 2


def test_result_is_frozen_and_serialisable() -> None:
    result = run("print('hi')", timeout=2)
    with pytest.raises(AttributeError):
        result.stdout = "changed"  # type: ignore[misc]
    data = result.to_dict()
    assert data["ok"] is True
    assert data["stdout"] == "hi\n"
    assert set(data) == {"exit_code", "stdout", "stderr", "duration", "stopped", "cpu_time", "ok"}


@pytest.mark.parametrize(
    ("code", "exit_code", "stderr_part"),
    [
        ("import sys; sys.exit(3)", 3, ""),
        ("raise ValueError('boom')", 1, "ValueError: boom"),
        ("import sys; print('bad', file=sys.stderr); sys.exit(42)", 42, "bad"),
        ("syntax error here", 1, "SyntaxError"),
    ],
)
def test_nonzero_exit_is_reported(code: str, exit_code: int, stderr_part: str) -> None:
    result = run(code, timeout=2)
    assert result.exit_code == exit_code
    assert result.stopped == "exited"
    assert not result.ok
    assert stderr_part in result.stderr


def test_environment_is_empty() -> None:
    os.environ["IRONCAGE_SECRET_FOR_TEST"] = "s3cret"
    try:
        result = run("import os, json; print(json.dumps(dict(os.environ)))", timeout=2)
    finally:
        del os.environ["IRONCAGE_SECRET_FOR_TEST"]
    assert result.ok, result.stderr
    env = __import__("json").loads(result.stdout)
    # CPython's PEP 538 locale coercion may set LC_CTYPE; TMPDIR is the run's own; nothing
    # else comes through.
    assert set(env) <= {"LC_CTYPE", "TMPDIR"}
    assert Path(env["TMPDIR"]).name == "tmp"
    assert "s3cret" not in result.stdout


def test_extra_env_is_passed_explicitly() -> None:
    result = run("import os; print(os.environ['ONLY_THIS'])", timeout=2, env={"ONLY_THIS": "yes"})
    assert result.stdout == "yes\n"


def test_isolated_mode_flags() -> None:
    result = run("import sys; print(sys.flags.isolated, sys.flags.no_site)", timeout=2)
    assert result.stdout == "1 1\n"


def test_cwd_is_fresh_temp_dir_removed_afterwards() -> None:
    code = "import os; open('made.txt', 'w').write('x'); print(os.getcwd()); print(os.listdir())"
    result = run(code, timeout=2)
    assert result.ok, result.stderr
    cwd_line, listing = result.stdout.splitlines()
    cwd = Path(cwd_line)
    assert cwd != Path.cwd()
    assert listing == "['made.txt']"
    assert not cwd.exists()
    assert not cwd.parent.exists()


def test_stdin_is_empty() -> None:
    result = run("import sys; print(repr(sys.stdin.read()))", timeout=2)
    assert result.stdout == "''\n"


def test_unicode_output_round_trips() -> None:
    result = run("print('h\u00e9llo \u2603')", timeout=2)
    assert result.stdout == "h\u00e9llo \u2603\n"


def test_process_group_is_killed_after_exit() -> None:
    code = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "print(p.pid)\n"
    )
    result = run(code, timeout=3)
    assert result.ok, result.stderr
    pid = int(result.stdout)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            break
        if state in ("Z", "X"):
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"grandchild {pid} still alive")


def test_interpreter_argv_plain_path_gets_isolation_flags() -> None:
    assert interpreter_argv("/usr/bin/python3") == ["/usr/bin/python3", "-I", "-S", "-B"]
    assert interpreter_argv(Path("/x/py")) == ["/x/py", "-I", "-S", "-B"]


def test_interpreter_argv_sequence_is_used_as_is() -> None:
    assert interpreter_argv(["/bin/ironcage", "__sandbox-exec"]) == [
        "/bin/ironcage",
        "__sandbox-exec",
    ]


@pytest.mark.parametrize("python", ["", []])
def test_empty_interpreter_is_rejected(python: str | list[str]) -> None:
    with pytest.raises(SandboxError, match=r"empty|no Python"):
        interpreter_argv(python)


def test_python_as_argv_prefix() -> None:
    result = run("import sys; print(sys.flags.isolated)", python=[sys.executable, "-I"], timeout=2)
    assert result.stdout == "1\n"


def test_missing_interpreter_raises() -> None:
    with pytest.raises(SandboxError, match="cannot start"):
        run("print(1)", python="/nonexistent/python3")


def test_code_must_be_str() -> None:
    with pytest.raises(TypeError, match="code must be a str"):
        run(b"print(1)")  # type: ignore[arg-type]


def test_concurrent_runs_are_independent() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: run(f"print({n} * 2)", timeout=3), range(8)))
    assert [r.stdout for r in results] == [f"{n * 2}\n" for n in range(8)]
