from __future__ import annotations

import sys

import pytest

from releasekit.core import run
from releasekit.core.errors import ToolError, ToolMissingError


def test_runs_argv_and_captures() -> None:
    result = run.Runner(echo=False)([sys.executable, "-c", "print('hi')"])
    assert result.stdout == "hi\n"
    assert result.returncode == 0


def test_failure_carries_argv_code_and_stderr_tail() -> None:
    code = "import sys\nfor i in range(100): print(f'line {i}', file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(ToolError, match=r"exited with status 3") as info:
        run.Runner(echo=False)([sys.executable, "-c", code])
    assert info.value.returncode == 3
    assert info.value.argv[0] == sys.executable
    assert "line 99" in info.value.stderr_tail
    assert "line 0\n" not in info.value.stderr_tail


def test_timeout() -> None:
    with pytest.raises(ToolError, match="timed out"):
        run.Runner(echo=False)([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.5)


def test_missing_tool() -> None:
    with pytest.raises(ToolMissingError, match=r"`no-such-tool-xyz` is not installed"):
        run.Runner(echo=False)(["no-such-tool-xyz"])


def test_secrets_are_redacted_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "canary-6f1d2a9b"
    code = "import os, sys; print(os.environ['MY_TOKEN'], file=sys.stderr); sys.exit(1)"
    with pytest.raises(ToolError) as info:
        run.Runner()([sys.executable, "-c", code, secret], env={"MY_TOKEN": secret})
    assert secret not in str(info.value)
    assert secret not in capsys.readouterr().err
    assert run.redact(f"x {secret} y") == "x *** y"


def test_dry_run_records_mutations_and_runs_queries() -> None:
    runner = run.Runner(dry_run=True, echo=False)
    assert runner(["rm", "-rf", "/nonexistent"]).dry_run
    query = runner([sys.executable, "-c", "print(1)"], mutates=False)
    assert query.stdout == "1\n"
    assert runner.recorded == [("rm", "-rf", "/nonexistent")]


def test_engine_never_imports_invoke_or_nox() -> None:
    from pathlib import Path

    import releasekit

    engine = Path(releasekit.__file__).parent
    offenders = [
        str(path.relative_to(engine))
        for path in engine.rglob("*.py")
        if "commands" not in path.parts
        and any(
            line.startswith(("import invoke", "from invoke", "import nox", "from nox"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_only_run_starts_processes() -> None:
    from pathlib import Path

    import releasekit

    engine = Path(releasekit.__file__).parent
    offenders = [
        str(path.relative_to(engine))
        for path in engine.rglob("*.py")
        if path.name != "run.py" and "import subprocess" in path.read_text()
    ]
    assert offenders == []


def test_long_command_lines_are_shortened_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    args = [sys.executable, "-c", "pass", *[f"--flag-{i}" for i in range(200)]]
    run.Runner()(args)
    echoed = capsys.readouterr().err.strip()
    assert len(echoed) < 420
    assert echoed.endswith("(203 arguments in all)")
