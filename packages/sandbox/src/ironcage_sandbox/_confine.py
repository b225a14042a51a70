"""Confinement of one run: Landlock, seccomp, counted forks, and no capabilities for root.

The supervisor prepares everything (the Landlock ruleset of the run's private directory,
the seccomp program, a socket pair); the child, between ``fork`` and ``exec``, drops every
capability when it is root, sets ``no_new_privs``, enters the ruleset, installs the filter
and hands the filter's notification descriptor back. The supervisor then answers each
process creation of the snippet (and of its children): allowed up to ``max_processes``,
EAGAIN after that.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import select
import socket
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ironcage_sandbox import _landlock, _seccomp
from ironcage_sandbox._landlock import READ, WRITE, Rule

__all__ = ["Confinement", "Jail", "confinement_support"]

_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAPABILITY_VERSION_3 = 0x20080522
_CapHeader = ctypes.c_uint32 * 2
_CapData = ctypes.c_uint32 * 6
_SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin")
# What an interpreter reads from /etc; the rest of it (credentials, keys) stays out of reach.
_ETC_READ = tuple(
    f"/etc/{name}"
    for name in (
        "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "passwd",
        "group", "nsswitch.conf", "mime.types", "os-release", "ssl/certs", "ca-certificates",
        "alternatives",
    )
)  # fmt: skip
_DEVICES = (
    ("/dev/null", _landlock.READ_FILE | _landlock.WRITE_FILE | _landlock.TRUNCATE),
    ("/dev/zero", _landlock.READ_FILE),
    ("/dev/urandom", _landlock.READ_FILE),
    ("/dev/random", _landlock.READ_FILE),
)


class ConfinementError(OSError):
    """A confinement layer the run asked for is not available here."""


@dataclass(frozen=True)
class Confinement:
    """What a snippet may do beyond computing.

    ``max_processes`` processes the snippet (with its children) may create in one run;
    ``network`` allows sockets; ``read_paths`` and ``write_paths`` add to the defaults
    (system directories and the interpreter read-only, the run's private directory
    writable); ``run_as`` is the uid and gid a snippet started by root runs as (None keeps
    uid 0 without any capability; the interpreter must be readable by that uid). With
    ``strict`` a layer the kernel lacks is an error; without, it is skipped.
    """

    max_processes: int = 16
    network: bool = False
    read_paths: tuple[str, ...] = ()
    write_paths: tuple[str, ...] = ()
    run_as: int | None = None
    strict: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.max_processes, bool) or not isinstance(self.max_processes, int):
            raise TypeError("max_processes must be an int")
        if self.max_processes < 0:
            raise ValueError(f"max_processes must be >= 0, got {self.max_processes}")
        if self.run_as is not None and not 0 < self.run_as < 2**32 - 1:
            raise ValueError(f"run_as must be a uid > 0, got {self.run_as}")
        for name in ("read_paths", "write_paths"):
            paths = getattr(self, name)
            if isinstance(paths, str) or not all(isinstance(p, str) for p in paths):
                raise TypeError(f"{name} must be a tuple of path strings")
            object.__setattr__(self, name, tuple(paths))


@functools.cache
def _notification_sizes() -> tuple[int, int] | None:
    arch = _seccomp.native_arch()
    return _seccomp.notification_sizes(arch) if arch else None


def confinement_support() -> dict[str, object]:
    """Which layers this kernel offers: for logs and health endpoints."""
    arch = _seccomp.native_arch()
    abi = _landlock.abi_version()
    return {
        "seccomp": arch is not None,
        "fork_limit": _notification_sizes() is not None,
        "landlock_abi": abi,
        "filesystem": abi >= 1,
        "tcp": abi >= 4,
        "signal_scope": abi >= 6,
        "drops_capabilities": os.geteuid() == 0,
    }


@functools.cache
def _last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 63


def _interpreter_paths(argv0: str) -> list[str]:
    candidates = [os.path.abspath(argv0), os.path.realpath(argv0)]
    if os.path.realpath(argv0) == os.path.realpath(sys.executable):
        candidates += [sys.prefix, sys.base_prefix, sys.exec_prefix]
    paths = []
    for path in candidates:
        directory = path if os.path.isdir(path) else os.path.dirname(path)
        prefix = os.path.dirname(directory) if os.path.basename(directory) == "bin" else directory
        paths.append(prefix if prefix != "/" else directory)
    return paths


@dataclass
class Jail:
    """One run's confinement: ``popen_kwargs``, ``preexec`` (child), ``started`` (parent)."""

    confinement: Confinement
    root: str
    writable: Sequence[str]
    argv0: str
    listener: int | None = None
    forks: int = 0
    refused_forks: int = 0
    _ruleset: int | None = None
    _program: _seccomp.Program | None = None
    _arch: _seccomp.Arch | None = None
    _sizes: tuple[int, int] | None = None
    _parent: socket.socket | None = None
    _child: socket.socket | None = None
    _uid: int | None = None
    _drop_caps: bool = False
    _last_cap: int = 0
    _buffer_type: Any = None

    def __post_init__(self) -> None:
        conf = self.confinement
        self._arch = _seccomp.native_arch()
        if self._arch is None and conf.strict:
            raise ConfinementError(
                f"the seccomp filter does not know this machine ({os.uname().machine}); "
                "pass Confinement(strict=False) to run without it"
            )
        self._drop_caps = os.geteuid() == 0 and conf.run_as is None
        self._last_cap = _last_capability()
        if os.geteuid() == 0 and conf.run_as is not None:
            self._uid = conf.run_as
            for path in (self.root, *self.writable):
                with contextlib.suppress(FileNotFoundError):
                    os.chown(path, conf.run_as, conf.run_as)
        self._make_ruleset()
        if self._arch is not None:
            self._sizes = _notification_sizes() if conf.max_processes else None
            self._program = _seccomp.build_program(
                self._arch, network=conf.network, notify_forks=self._sizes is not None
            )
        # Everything the child needs exists before the fork: it must not dlopen, import or
        # create types while another thread of this process may hold the lock for it.
        _seccomp.libc()
        if self._program is not None:
            self._buffer_type = ctypes.c_char * len(self._program.code)
        self._parent, self._child = socket.socketpair()

    def _make_ruleset(self) -> None:
        conf = self.confinement
        if _landlock.abi_version() < 1:
            if conf.strict:
                raise ConfinementError(
                    "Landlock is not available on this kernel (Linux >= 5.13 with landlock in "
                    "the lsm= boot list), so the snippet's file system cannot be confined; "
                    "pass Confinement(strict=False) to run without it"
                )
            return
        rules = [Rule(path, READ) for path in (*_SYSTEM_READ, *_ETC_READ, *conf.read_paths)]
        rules += [Rule(path, READ) for path in _interpreter_paths(self.argv0)]
        rules += [Rule(path, access) for path, access in _DEVICES]
        rules.append(Rule(self.root, _landlock.READ_FILE | _landlock.READ_DIR))
        rules += [Rule(path, WRITE) for path in (*self.writable, *conf.write_paths)]
        self._ruleset = _landlock.build_ruleset(rules, network=conf.network)

    def popen_kwargs(self) -> dict[str, Any]:
        """Extra ``subprocess.Popen`` arguments (the uid and gid when root runs it)."""
        if self._uid is None:
            return {}
        return {"user": self._uid, "group": self._uid, "extra_groups": []}

    def preexec(self) -> None:
        """In the child: no_new_privs, Landlock, seccomp; hand the listener to the parent."""
        child = self._child
        assert child is not None
        try:
            libc = _seccomp.libc()
            if self._drop_caps:
                self._drop_capabilities()
            if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
            if self._ruleset is not None:
                _landlock.restrict_self(self._ruleset)
            listener = self._install_filter()
            if listener is not None:
                socket.send_fds(child, [b"L"], [listener])
                os.close(listener)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                child.send(f"E{type(exc).__name__}: {exc}".encode()[:1000])
            raise

    def _drop_capabilities(self) -> None:
        """Root without capabilities, now and after exec (bounding, ambient, all sets)."""
        libc = _seccomp.libc()
        for cap in range(self._last_cap + 1):
            libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
        libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        header = _CapHeader(_CAPABILITY_VERSION_3, 0)
        data = _CapData()
        assert self._arch is not None
        _seccomp.syscall(self._arch.syscalls["capset"], ctypes.byref(header), ctypes.byref(data))

    def _install_filter(self) -> int | None:
        if self._program is None or self._arch is None:
            return None
        code = self._program.with_pid(os.getpid())
        buffer = self._buffer_type.from_buffer(code)
        prog = _seccomp.SockFprog(len(code) // 8, ctypes.addressof(buffer))
        flags = _seccomp.SECCOMP_FILTER_FLAG_NEW_LISTENER if self._sizes else 0
        fd = _seccomp.syscall(
            self._arch.syscalls["seccomp"],
            _seccomp.SECCOMP_SET_MODE_FILTER,
            flags,
            ctypes.byref(prog),
        )
        return fd if self._sizes else None

    def started(self) -> None:
        """In the parent once the child runs: take the listener, drop what the child had."""
        self._drop_child_side()
        if self._sizes is None or self._parent is None:
            return
        with contextlib.suppress(BlockingIOError):
            message, fds, _flags, _addr = socket.recv_fds(
                self._parent, 1024, 1, socket.MSG_DONTWAIT
            )
            if message.startswith(b"L") and fds:
                self.listener = fds[0]

    def failure(self) -> str:
        """Why the child could not be confined (after ``preexec`` raised in it)."""
        self._drop_child_side()
        if self._parent is None:
            return ""
        try:
            message = self._parent.recv(1024, socket.MSG_DONTWAIT)
        except OSError:
            return ""
        return message[1:].decode(errors="replace") if message.startswith(b"E") else ""

    def handle(self) -> bool:
        """Answer one pending process creation; False once no process can ask again."""
        if self.listener is None or self._sizes is None:
            return False
        poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        events = poller.poll(0)
        if not events:
            return True
        if not events[0][1] & select.POLLIN:
            return False  # POLLHUP: every process under the filter has exited
        request = bytearray(self._sizes[0])
        try:
            fcntl.ioctl(self.listener, _seccomp.NOTIF_RECV, request, True)
        except OSError as exc:
            return exc.errno in (errno.ENOENT, errno.EINTR)
        (notif_id,) = struct.unpack_from("=Q", request, 0)
        reply = bytearray(self._sizes[1])
        if self.forks < self.confinement.max_processes:
            self.forks += 1
            struct.pack_into("=QqiI", reply, 0, notif_id, 0, 0, _seccomp.USER_NOTIF_FLAG_CONTINUE)
        else:
            self.refused_forks += 1
            struct.pack_into("=QqiI", reply, 0, notif_id, 0, -errno.EAGAIN, 0)
        with contextlib.suppress(OSError):  # the process may have died meanwhile
            fcntl.ioctl(self.listener, _seccomp.NOTIF_SEND, reply, True)
        return True

    def _drop_child_side(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None
        if self._ruleset is not None:
            os.close(self._ruleset)
            self._ruleset = None

    def close(self) -> None:
        self._drop_child_side()
        if self.listener is not None:
            os.close(self.listener)
            self.listener = None
        if self._parent is not None:
            self._parent.close()
            self._parent = None
