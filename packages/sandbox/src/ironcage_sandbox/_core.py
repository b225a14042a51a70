"""Run a Python snippet in a resource-limited, isolated child process."""

from __future__ import annotations

import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, TypeAlias

from ironcage_sandbox._confine import Confinement, Jail
from ironcage_sandbox._process import has_exited as _has_exited
from ironcage_sandbox._process import kill_group as _kill_group
from ironcage_sandbox._process import limit_setter as _limit_setter
from ironcage_sandbox._process import open_pidfd as _open_pidfd
from ironcage_sandbox._process import reap as _reap

StopReason: TypeAlias = Literal["exited", "timeout", "cpu", "memory", "output"]
"""Why the snippet stopped: it exited by itself, or a limit stopped it."""

Python: TypeAlias = str | os.PathLike[str] | Sequence[str]
"""An interpreter path, or the full argv prefix that the script path is appended to."""

ISOLATION_FLAGS: tuple[str, ...] = ("-I", "-S", "-B")
"""Flags added after a plain interpreter path: isolated mode, no ``site``, no bytecode files."""

_MIB = 1024 * 1024
_READ_SIZE = 65536
_POLL_SECONDS = 0.05
_DRAIN_SECONDS = 1.0
_SCRIPT_NAME = "snippet.py"
_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "out of memory", "std::bad_alloc")
_CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT})


class SandboxError(RuntimeError):
    """The sandbox could not start the interpreter (bad path, bad limits for this host...)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed run.

    ``timeout`` is wall-clock seconds, ``cpu_seconds`` CPU seconds (RLIMIT_CPU), ``memory_mb``
    the address-space limit (RLIMIT_AS), ``output_limit`` the number of bytes kept per stream
    (stdout and stderr each; the child is killed when it writes more) and ``file_size_mb`` the
    largest file the child may write (RLIMIT_FSIZE).
    """

    timeout: float = 5.0
    cpu_seconds: int = 5
    memory_mb: int = 256
    output_limit: int = 65536
    file_size_mb: int = 64

    def __post_init__(self) -> None:
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int | float):
            raise TypeError("timeout must be a number of seconds")
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        for name, minimum in (
            ("cpu_seconds", 1),
            ("memory_mb", 16),
            ("output_limit", 0),
            ("file_size_mb", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < minimum:
                raise ValueError(f"{name} must be >= {minimum}, got {value}")


@dataclass(frozen=True)
class Result:
    """The outcome of one sandboxed run.

    ``exit_code`` is the child's return code (negative signal number when a signal ended it),
    or ``None`` when the sandbox itself killed the child (``timeout`` or ``output``).
    """

    exit_code: int | None
    stdout: str
    stderr: str
    duration: float
    stopped: StopReason
    cpu_time: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the snippet exited by itself with status 0."""
        return self.stopped == "exited" and self.exit_code == 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict of the fields plus ``ok``."""
        data = asdict(self)
        data["ok"] = self.ok
        return data


def interpreter_argv(python: Python) -> list[str]:
    """The argv prefix used to run a script with ``python``.

    A plain path (str or path-like) runs as ``python -I -S -B SCRIPT``; a sequence is used as
    the whole prefix (the caller chooses the flags, e.g. a frozen binary's hidden exec mode).
    """
    if isinstance(python, str | os.PathLike):
        path = os.fspath(python)
        if not path:
            raise SandboxError("no Python interpreter given (sys.executable is empty?)")
        return [path, *ISOLATION_FLAGS]
    argv = [os.fspath(part) for part in python]
    if not argv or not argv[0]:
        raise SandboxError("the interpreter argv prefix is empty")
    return argv


def run(
    code: str,
    *,
    timeout: float = 5.0,
    cpu_seconds: int = 5,
    memory_mb: int = 256,
    output_limit: int = 65536,
    python: Python = sys.executable,
    file_size_mb: int = 64,
    env: Mapping[str, str] | None = None,
    confinement: Confinement | None = None,
) -> Result:
    """Run ``code`` in a fresh, isolated and confined Python process under the given limits.

    The child gets an empty environment (plus ``TMPDIR`` and ``env`` if given), a new
    private directory (its working directory and its ``TMPDIR``) that is removed afterwards,
    its own session/process group (killed as a whole), ``stdin`` from ``/dev/null``, and the
    :class:`Confinement` given (the default one when None).
    """
    limits = Limits(
        timeout=timeout,
        cpu_seconds=cpu_seconds,
        memory_mb=memory_mb,
        output_limit=output_limit,
        file_size_mb=file_size_mb,
    )
    return run_with_limits(code, limits, python=python, env=env, confinement=confinement)


def run_with_limits(
    code: str,
    limits: Limits,
    *,
    python: Python = sys.executable,
    env: Mapping[str, str] | None = None,
    confinement: Confinement | None = None,
) -> Result:
    """Like :func:`run`, with the limits given as a :class:`Limits`."""
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, got {type(code).__name__}")
    prefix = interpreter_argv(python)
    root = tempfile.mkdtemp(prefix="ironcage-sandbox-")
    try:
        workdir = os.path.join(root, "work")
        tmpdir = os.path.join(root, "tmp")
        os.mkdir(workdir, 0o700)
        os.mkdir(tmpdir, 0o700)
        script = os.path.join(root, _SCRIPT_NAME)
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(code)
        child_env = {"TMPDIR": tmpdir}
        child_env.update({str(key): str(value) for key, value in (env or {}).items()})
        try:
            jail = Jail(confinement or Confinement(), root, (workdir, tmpdir), prefix[0])
        except OSError as exc:
            raise SandboxError(f"cannot confine the snippet: {exc}") from None
        try:
            return _execute([*prefix, script], workdir, child_env, limits, jail)
        finally:
            jail.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _execute(
    argv: list[str], workdir: str, env: dict[str, str], limits: Limits, jail: Jail
) -> Result:
    start = time.monotonic()
    set_limits = _limit_setter(limits)

    def _prepare_child() -> None:
        set_limits()
        jail.preexec()

    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=env,
            close_fds=True,
            start_new_session=True,
            preexec_fn=_prepare_child,
            **jail.popen_kwargs(),
        )
    except subprocess.SubprocessError as exc:
        detail = jail.failure() or str(exc)
        raise SandboxError(f"cannot confine {argv[0]!r}: {detail}") from exc
    except OSError as exc:
        raise SandboxError(f"cannot start {argv[0]!r}: {exc}") from exc
    jail.started()
    try:
        reason, out, err, ended = _supervise(proc, limits, start, jail)
    finally:
        _kill_group(proc.pid)
        returncode, cpu_time, maxrss_kib = _reap(proc.pid)
        proc.returncode = returncode
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    stdout = out.decode("utf-8", errors="replace")
    stderr = err.decode("utf-8", errors="replace")
    stopped = reason or _classify(returncode, stderr, cpu_time, maxrss_kib, limits)
    exit_code = None if stopped in ("timeout", "output") else proc.returncode
    return Result(
        exit_code=exit_code,
        stdout=stdout,
        stderr=stderr,
        duration=round(ended - start, 6),
        stopped=stopped,
        cpu_time=round(cpu_time, 6),
    )


def _supervise(
    proc: subprocess.Popen[bytes], limits: Limits, start: float, jail: Jail
) -> tuple[StopReason | None, bytes, bytes, float]:
    """Pump the child's output until it has exited and its pipes are closed.

    Returns the reason the sandbox killed the child (or None), stdout, stderr and the
    monotonic time the child ended.
    """
    assert proc.stdout is not None and proc.stderr is not None
    deadline = start + limits.timeout
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    buffers = {out_fd: bytearray(), err_fd: bytearray()}
    selector = selectors.DefaultSelector()
    for fd in buffers:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    pidfd = _open_pidfd(proc.pid)
    if pidfd is not None:
        selector.register(pidfd, selectors.EVENT_READ)
    if jail.listener is not None:
        selector.register(jail.listener, selectors.EVENT_READ)
    reason: StopReason | None = None
    ended: float | None = None
    drain_until: float | None = None
    try:
        while True:
            now = time.monotonic()
            if ended is None and reason is None and now >= deadline:
                reason = "timeout"
                _kill_group(proc.pid)
                drain_until = now + _DRAIN_SECONDS
            pipes_open = any(fd in buffers for fd in _registered(selector))
            if ended is not None and not pipes_open:
                break
            if drain_until is not None and now >= drain_until:
                break
            if drain_until is not None:
                wait = max(0.0, drain_until - now)
            else:
                wait = max(0.0, deadline - now)
            if pidfd is None:
                wait = min(wait, _POLL_SECONDS)
            events = selector.select(wait) if _registered(selector) else _sleep(wait)
            for key, _mask in events:
                fd = int(key.fd)
                if fd == pidfd:
                    selector.unregister(fd)
                    continue
                if fd == jail.listener:
                    if not jail.handle():
                        selector.unregister(fd)
                    continue
                try:
                    chunk = os.read(fd, _READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    selector.unregister(fd)
                    continue
                buffer = buffers[fd]
                room = limits.output_limit - len(buffer)
                buffer += chunk[: max(room, 0)]
                if len(chunk) > room and reason is None and ended is None:
                    reason = "output"
                    _kill_group(proc.pid)
                    drain_until = time.monotonic() + _DRAIN_SECONDS
            if ended is None and _has_exited(proc.pid):
                ended = time.monotonic()
                # Anything the snippet left running in its process group dies with it.
                _kill_group(proc.pid)
                if drain_until is None:
                    drain_until = ended + _DRAIN_SECONDS
    finally:
        selector.close()
        if pidfd is not None:
            os.close(pidfd)
    if ended is None:
        ended = time.monotonic()
    return reason, bytes(buffers[out_fd]), bytes(buffers[err_fd]), ended


def _registered(selector: selectors.BaseSelector) -> set[int]:
    return {int(key.fd) for key in selector.get_map().values()}


def _sleep(seconds: float) -> list[tuple[selectors.SelectorKey, int]]:
    time.sleep(min(seconds, _POLL_SECONDS))
    return []


def _classify(
    returncode: int, stderr: str, cpu_time: float, maxrss_kib: int, limits: Limits
) -> StopReason:
    memory_hint = _mentions_memory(stderr)
    if returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU:
            return "cpu"
        if sig == signal.SIGKILL:
            # Not sent by us: the hard RLIMIT_CPU, or else the kernel's OOM killer.
            return "cpu" if cpu_time >= limits.cpu_seconds - 0.05 else "memory"
        near_limit = maxrss_kib * 1024 >= 0.8 * limits.memory_mb * _MIB
        if sig in _CRASH_SIGNALS and (memory_hint or near_limit):
            return "memory"
        return "exited"
    if returncode != 0 and memory_hint:
        return "memory"
    return "exited"


def _mentions_memory(stderr: str) -> bool:
    lines = [line.strip() for line in stderr[-4096:].splitlines() if line.strip()]
    if not lines:
        return False
    last = lines[-1]
    if last.startswith("MemoryError"):
        return True
    return any(marker in line for line in lines[-3:] for marker in _MEMORY_MARKERS[1:])
