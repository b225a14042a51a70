from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from ironcage_agent_runtime.__main__ import build_parser, main


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("WORKERS", raising=False)
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.workers) == ("0.0.0.0", 8080, 2)


def test_port_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9123")
    assert build_parser().parse_args([]).port == 9123
    assert build_parser().parse_args(["--port", "7000"]).port == 7000


def test_bad_env_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "http")
    with pytest.raises(SystemExit, match="PORT must be an integer"):
        build_parser()


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--port", "70000"], "--port must be 0-65535"),
        (["--workers", "-1"], "--workers must be >= 0"),
        (["--workers", "0"], "--workers 0 needs REDIS_URL"),
        (["--redis-url", "http://x"], "REDIS_URL must look like redis://"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], match: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_RUNTIME_TOKEN", "t0ken-for-test")
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main([*argv, "--port", "0"] if argv[0] != "--port" else argv) == 2
    assert match in capsys.readouterr().err


@pytest.mark.parametrize("value", [None, "", "   "])
def test_refuses_to_start_without_a_token(
    value: str | None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("AGENT_RUNTIME_TOKEN", raising=False)
    else:
        monkeypatch.setenv("AGENT_RUNTIME_TOKEN", value)
    assert main(["--port", "0"]) == 2
    assert "AGENT_RUNTIME_TOKEN is not set" in capsys.readouterr().err


def test_serves_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PORT": "0", "AGENT_RUNTIME_TOKEN": "t0ken-for-test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ironcage_agent_runtime", "--host", "127.0.0.1", "--workers", "1"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        listening = json.loads(proc.stdout.readline())
        assert listening["msg"] == "listening"
        port = listening["port"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert json.loads(response.read())["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    messages = [json.loads(line)["msg"] for line in out.splitlines()]
    # The access line of the last request is written after its answer, so it may come
    # before or after "shutting down"; "stopped" is always last.
    assert messages[-1] == "stopped"
    assert "shutting down" in messages
    assert "request" in messages
