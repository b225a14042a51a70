"""Hostile snippets: each must fail inside the snippet while this process carries on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from ironcage_sandbox import Confinement, SandboxError, _landlock, confinement_support, run


def _last_error(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


_TGKILL_PARENT = """
import ctypes, os, platform
number = {"x86_64": 234, "aarch64": 131}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
if libc.syscall(number, os.getppid(), os.getppid(), 9) != 0:
    raise PermissionError(ctypes.get_errno(), "tgkill")
"""


def test_this_kernel_offers_every_layer() -> None:
    support = confinement_support()
    assert support["seccomp"] is True
    assert support["filesystem"] is True
    assert support["fork_limit"] is True


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("import os; os.kill(os.getppid(), 9)", "PermissionError: [Errno 1]"),
        ("import os, signal; os.kill(1, signal.SIGTERM)", "PermissionError: [Errno 1]"),
        ("import os; os.kill(-1, 9)", "PermissionError: [Errno 1]"),
        ("import os; os.killpg(os.getpgid(os.getppid()), 9)", "PermissionError: [Errno 1]"),
        (_TGKILL_PARENT, "PermissionError: [Errno 1] tgkill"),
        ("import os; os.setsid()", "PermissionError: [Errno 1]"),
    ],
    ids=["parent", "pid-1", "everyone", "parent-group", "tgkill", "setsid"],
)
def test_signals_cannot_leave_the_snippet(code: str, error: str) -> None:
    result = run(code, timeout=5)
    assert result.stopped == "exited"
    assert result.exit_code == 1
    assert error in _last_error(result.stderr)


def test_snippet_may_signal_itself() -> None:
    result = run("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", timeout=5)
    assert result.exit_code == -signal.SIGTERM


def test_another_process_survives_a_kill() -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        result = run(f"import os; os.kill({victim.pid}, 9)", timeout=5)
        assert "PermissionError" in _last_error(result.stderr)
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def _pid_with_marker(marker: str, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no process with {marker} in its environment")


def test_snippets_cannot_signal_each_other() -> None:
    marker = f"IRONCAGE_MARK_{uuid.uuid4().hex}"
    outcome: dict[str, object] = {}

    def victim() -> None:
        code = "import time; time.sleep(1.5); print('survived')"
        outcome["victim"] = run(code, timeout=10, env={marker: "1"})

    thread = threading.Thread(target=victim)
    thread.start()
    pid = _pid_with_marker(marker)
    attacker = run(f"import os; os.kill({pid}, 9)", timeout=5)
    thread.join(15)
    assert "PermissionError" in _last_error(attacker.stderr)
    survivor = outcome["victim"]
    assert getattr(survivor, "stdout", None) == "survived\n"


@pytest.mark.parametrize(
    "code",
    [
        "import socket; socket.create_connection(('127.0.0.1', PORT), timeout=2)",
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
        "import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)",
        "import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
        "import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)",
    ],
    ids=["tcp-connect", "udp", "tcp6", "unix", "raw"],
)
def test_no_network_sockets(code: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        port = server.getsockname()[1]
        result = run(code.replace("PORT", str(port)), timeout=5)
        with pytest.raises(TimeoutError):
            server.accept()
    assert result.exit_code == 1
    assert "PermissionError: [Errno 13]" in _last_error(result.stderr)


def test_socketpair_still_works() -> None:
    code = "import socket; a, b = socket.socketpair(); a.send(b'x'); print(b.recv(1))"
    result = run(code, timeout=5)
    assert result.ok, result.stderr
    assert result.stdout == "b'x'\n"


def test_network_can_be_allowed() -> None:
    result = run("import socket; socket.socket().close(); print('ok')", timeout=5,
                 confinement=Confinement(network=True))  # fmt: skip
    assert result.ok, result.stderr


_FORK_BOMB = """
import os, time
made = 0
try:
    for _ in range(1000):
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        made += 1
finally:
    print(made, flush=True)
"""


@pytest.mark.parametrize("limit", [0, 3, 16])
def test_fork_bomb_is_bounded(limit: int) -> None:
    result = run(_FORK_BOMB, timeout=10, confinement=Confinement(max_processes=limit))
    assert result.stdout == f"{limit}\n"
    assert "BlockingIOError: [Errno 11]" in _last_error(result.stderr)
    assert result.duration < 5  # the children die with the run, not after their sleep


def test_threads_are_not_counted_as_processes() -> None:
    code = (
        "import threading\n"
        "threads = [threading.Thread(target=lambda: None) for _ in range(20)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]; print('ok')\n"
    )
    result = run(code, timeout=5, confinement=Confinement(max_processes=0))
    assert result.stdout == "ok\n", result.stderr


def test_subprocess_runs_within_the_limit() -> None:
    code = (
        "import subprocess, sys\n"
        "print(subprocess.run([sys.executable, '-c', 'print(7)'], capture_output=True).stdout)\n"
    )
    result = run(code, timeout=10)
    assert result.stdout == "b'7\\n'\n", result.stderr


def test_files_outside_the_private_directory_are_out_of_reach(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    for code in (
        f"print(open({str(secret)!r}).read())",
        f"open({str(tmp_path / 'planted.txt')!r}, 'w').write('x')",
        "import os; print(os.listdir('/tmp'))",
        "print(open('/etc/shadow').read())",
        "open('/usr/planted', 'w')",
        "import os; print(os.listdir('/proc'))",
    ):
        result = run(code, timeout=5)
        assert "PermissionError: [Errno 13]" in _last_error(result.stderr), code
        assert "s3cret" not in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]


def test_private_directory_and_tmpdir_are_writable() -> None:
    code = (
        "import os, tempfile\n"
        "open('here.txt', 'w').write('x')\n"
        "with tempfile.NamedTemporaryFile(dir=None) as f: f.write(b'y')\n"
        "print(sorted(os.listdir()), tempfile.gettempdir() == os.environ['TMPDIR'])\n"
    )
    result = run(code, timeout=5)
    assert result.stdout == "['here.txt'] True\n", result.stderr


def test_server_environment_is_not_readable() -> None:
    os.environ["IRONCAGE_SERVER_SECRET"] = "hunter2"
    try:
        code = (
            "import os\n"
            "print('IRONCAGE_SERVER_SECRET' in os.environ)\n"
            "print(open('/proc/%d/environ' % os.getppid(), 'rb').read())\n"
        )
        result = run(code, timeout=5)
    finally:
        del os.environ["IRONCAGE_SERVER_SECRET"]
    assert result.stdout == "False\n"
    assert "PermissionError: [Errno 13]" in _last_error(result.stderr)
    assert "hunter2" not in result.stdout + result.stderr


def test_missing_landlock_is_an_error_unless_not_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_landlock, "abi_version", lambda: 0)
    with pytest.raises(SandboxError, match=r"Landlock is not available.*strict=False"):
        run("print(1)", timeout=5)
    result = run("print(1)", timeout=5, confinement=Confinement(strict=False))
    assert result.stdout == "1\n"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_processes": -1}, ValueError, "max_processes must be >= 0"),
        ({"max_processes": 1.5}, TypeError, "max_processes must be an int"),
        ({"run_as": 0}, ValueError, "run_as must be a uid > 0"),
        ({"read_paths": "/opt"}, TypeError, "read_paths must be a tuple"),
    ],
)
def test_confinement_is_validated(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Confinement(**kwargs)  # type: ignore[arg-type]
