from __future__ import annotations

import json
import os
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
        run.Runner()([sys.executable, "-c", code, secret], secrets={"MY_TOKEN": secret})
    assert secret not in str(info.value)
    assert secret not in capsys.readouterr().err
    assert run.redact(f"x {secret} y") == "x *** y"


_DUMP = "import json, os; print(json.dumps(dict(os.environ)))"
_PARENT = {
    "TWINE_PASSWORD": "marker-twine-5c1e",
    "TWINE_USERNAME": "marker-user-5c1e",
    "REGISTRY_PASSWORD": "marker-registry-5c1e",
    "COSIGN_PRIVATE_KEY": "marker-key-5c1e",
    "COSIGN_PASSWORD": "marker-cosign-5c1e",
    "GITHUB_TOKEN": "marker-gh-5c1e",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "http.https://example.test/.extraheader",
    "GIT_CONFIG_VALUE_0": "AUTHORIZATION: basic marker-header-5c1e",
    "AWS_SECRET_ACCESS_KEY": "marker-aws-5c1e",
    "SOME_APP_SETTING": "marker-other-5c1e",
    "GITHUB_SHA": "0123abcd",
    "LC_ALL": "C.UTF-8",
    "DOCKER_HOST": "unix:///run/docker.sock",
    "SOURCE_DATE_EPOCH": "1700000000",
}


def _child_env(monkeypatch: pytest.MonkeyPatch, **kwargs: dict[str, str]) -> dict[str, str]:
    for name, value in _PARENT.items():
        monkeypatch.setenv(name, value)
    out = run.Runner(echo=False)([sys.executable, "-c", _DUMP], **kwargs).stdout  # type: ignore[arg-type]
    found: dict[str, str] = json.loads(out)
    return found


def test_a_child_gets_the_allow_listed_environment_and_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _child_env(monkeypatch, env={"NO_COLOR": "1"})
    assert not any("marker" in value for value in env.values()), env
    assert not {"GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "COSIGN_PRIVATE_KEY"} & set(env)
    for kept in ("PATH", "HOME", "GITHUB_SHA", "LC_ALL", "DOCKER_HOST", "SOURCE_DATE_EPOCH"):
        assert env[kept] == os.environ[kept]
    assert (env["NO_COLOR"], env["GIT_TERMINAL_PROMPT"]) == ("1", "0")


def test_a_call_gets_exactly_the_secrets_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    env = _child_env(monkeypatch, secrets={"TWINE_PASSWORD": "marker-twine-5c1e"})
    assert [v for v in env.values() if "marker" in v] == ["marker-twine-5c1e"]
    assert run.redact("x marker-twine-5c1e") == "x ***"


@pytest.mark.parametrize("name", ["TWINE_PASSWORD", "CONTROL_PANEL_TOKEN", "AWS_SECRET_ACCESS_KEY"])
def test_a_secret_in_env_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=rf"`{name}` looks secret: pass it in `secrets=`"):
        run.Runner(echo=False)([sys.executable, "-c", "pass"], env={name: "value-1234"})


def test_cloud_credentials_are_only_those_set() -> None:
    given = {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3cret", "OTHER": "x"}
    assert run.cloud_credentials(given) == {
        "AWS_ACCESS_KEY_ID": "AKIA1",
        "AWS_SECRET_ACCESS_KEY": "s3cret",
    }


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


def test_settings_in_env_are_not_redacted() -> None:
    run.Runner(echo=False)([sys.executable, "-c", "pass"], env={"TWINE_USERNAME": "uploader-b71c"})
    assert run.redact("user uploader-b71c") == "user uploader-b71c"
