"""The child process: its rlimits, and waiting for it and its process group."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ironcage_sandbox._core import Limits

__all__ = ["has_exited", "kill_group", "limit_setter", "open_pidfd", "reap"]

_MIB = 1024 * 1024


def limit_setter(limits: Limits) -> Callable[[], None]:
    """The preexec_fn: compute everything in the parent, only call setrlimit in the child."""
    settings = [
        (resource.RLIMIT_CPU, _clamp(resource.RLIMIT_CPU, limits.cpu_seconds, 1)),
        (resource.RLIMIT_AS, _clamp(resource.RLIMIT_AS, limits.memory_mb * _MIB, 0)),
        (resource.RLIMIT_FSIZE, _clamp(resource.RLIMIT_FSIZE, limits.file_size_mb * _MIB, 0)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]

    def _apply() -> None:
        for which, pair in settings:
            resource.setrlimit(which, pair)

    return _apply


def _clamp(which: int, soft: int, slack: int) -> tuple[int, int]:
    """(soft, hard) for ``which``, never above the hard limit this process already has."""
    _, current_hard = resource.getrlimit(which)
    hard = soft + slack
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    return soft, hard


def open_pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


def reap(pid: int) -> tuple[int, float, int]:
    """Wait for the child: (return code, CPU seconds used, max RSS in KiB)."""
    try:
        _, status, usage = os.wait4(pid, 0)
    except ChildProcessError:  # reaped elsewhere (e.g. SIGCHLD ignored by the host program)
        return -signal.SIGKILL, 0.0, 0
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def has_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (its pid stays reserved)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
