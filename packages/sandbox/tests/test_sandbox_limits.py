from __future__ import annotations

import pytest

from ironcage_sandbox import Limits, run, run_with_limits


def test_busy_loop_is_stopped_quickly() -> None:
    result = run("while True: pass", timeout=2, cpu_seconds=1)
    assert result.stopped in ("cpu", "timeout")
    assert not result.ok
    assert result.duration < 3


def test_cpu_limit_reports_cpu() -> None:
    result = run("while True: pass", timeout=30, cpu_seconds=1)
    assert result.stopped == "cpu"
    # The kernel signals at the limit; the accounting read back after the kill lags a
    # little on a loaded machine, so only "most of the limit" is asserted.
    assert result.cpu_time >= 0.5


def test_sleep_hits_wall_timeout() -> None:
    result = run("import time; print('start', flush=True); time.sleep(30)", timeout=1)
    assert result.stopped == "timeout"
    assert result.exit_code is None
    assert result.stdout == "start\n"
    assert 0.9 < result.duration < 2.5


@pytest.mark.parametrize(
    "code",
    [
        "b = bytearray(2 * 1024**3)",
        "x = []\nwhile True:\n    x.append(' ' * 10**6)",
    ],
    ids=["bytearray", "growing-list"],
)
def test_memory_hog_is_stopped(code: str) -> None:
    result = run(code, timeout=5, cpu_seconds=4, memory_mb=128)
    assert result.stopped == "memory", result
    assert not result.ok


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_cap_kills_child(stream: str) -> None:
    code = f"import sys, time\nsys.{stream}.write('x' * 5000)\nsys.{stream}.flush()\ntime.sleep(30)"
    result = run(code, timeout=3, output_limit=1000)
    assert result.stopped == "output"
    assert result.exit_code is None
    assert getattr(result, stream) == "x" * 1000
    assert result.duration < 2


def test_endless_printing_is_capped() -> None:
    result = run("while True: print('spam')", timeout=3, output_limit=4096)
    assert result.stopped == "output"
    assert len(result.stdout) == 4096


def test_output_exactly_at_limit_is_fine() -> None:
    result = run("import sys; sys.stdout.write('y' * 100)", timeout=2, output_limit=100)
    assert result.ok
    assert result.stdout == "y" * 100


def test_file_size_limit() -> None:
    code = "open('big.bin', 'wb').write(b'0' * (2 * 1024 * 1024))"
    result = run(code, timeout=2, file_size_mb=1)
    assert result.exit_code == 1
    assert "File too large" in result.stderr


def test_run_with_limits() -> None:
    result = run_with_limits("print('ok')", Limits(timeout=2, cpu_seconds=1))
    assert result.ok


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"timeout": 0}, ValueError, "timeout must be a positive"),
        ({"timeout": float("inf")}, ValueError, "timeout must be a positive"),
        ({"timeout": "5"}, TypeError, "timeout must be a number"),
        ({"cpu_seconds": 0}, ValueError, "cpu_seconds must be >= 1"),
        ({"cpu_seconds": 1.5}, TypeError, "cpu_seconds must be an int"),
        ({"memory_mb": 4}, ValueError, "memory_mb must be >= 16"),
        ({"output_limit": -1}, ValueError, "output_limit must be >= 0"),
        ({"memory_mb": True}, TypeError, "memory_mb must be an int"),
    ],
)
def test_limits_are_validated(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Limits(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(error, match=match):
        run("print(1)", **kwargs)  # type: ignore[arg-type]
