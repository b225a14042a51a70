"""A seccomp-BPF filter for sandboxed snippets, assembled by hand (no libseccomp needed).

The filter, installed in the child between ``fork`` and ``exec``:

- kills the process on a foreign system-call ABI (e.g. x32 or 32-bit calls on x86_64);
- lets ``kill``/``rt_sigqueueinfo`` reach only the snippet itself or its own process group
  (pid ``0``, ``self`` or ``-self``) and ``tgkill``/``rt_tgsigqueueinfo`` only its own
  threads; ``tkill``, ``pidfd_send_signal`` and ``pidfd_getfd`` fail with EPERM;
- refuses ``socket`` (any family) and ``socketpair`` outside ``AF_UNIX`` unless the network
  is allowed, and ``io_uring_*`` (which could open sockets behind the filter's back);
- refuses new namespaces, mounts, ptrace, other processes' memory, keyrings, BPF, kernel
  modules, clocks, reboot, ``setsid``/``setpgid`` (which would let a child leave the
  process group the sandbox kills);
- sends every process creation (``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``) to
  the supervisor as a user notification, so the supervisor can count them; threads pass.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass

__all__ = [
    "NOTIF_ID_VALID",
    "NOTIF_RECV",
    "NOTIF_SEND",
    "Arch",
    "Program",
    "build_program",
    "native_arch",
]

# <linux/seccomp.h>, <linux/filter.h>, <linux/audit.h>
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_GET_NOTIF_SIZES = 3
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
RET_KILL_PROCESS = 0x80000000
RET_USER_NOTIF = 0x7FC00000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
USER_NOTIF_FLAG_CONTINUE = 1
NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)
NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp)
NOTIF_ID_VALID = 0x40082102  # _IOW('!', 2, __u64)

_LD_W_ABS = 0x20
_JEQ = 0x15
_JSET = 0x45
_RET = 0x06
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16

_CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
_CLONE_NAMESPACES |= 0x20000000 | 0x40000000
_AF_UNIX = 1

_DENIED = tuple(
    " ".join(
        (
            "tkill pidfd_send_signal pidfd_getfd ptrace process_vm_readv process_vm_writev kcmp",
            "unshare setns mount umount2 pivot_root chroot fsopen fsconfig fsmount fspick",
            "move_mount open_tree mount_setattr bpf perf_event_open userfaultfd keyctl add_key",
            "request_key init_module finit_module delete_module kexec_load kexec_file_load",
            "reboot swapon swapoff acct open_by_handle_at name_to_handle_at quotactl syslog",
            "iopl ioperm personality fanotify_init settimeofday clock_settime adjtimex",
            "clock_adjtime vhangup setsid setpgid",
        )
    ).split()
)
_NOT_IMPLEMENTED = ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register")


@dataclass(frozen=True)
class Arch:
    """One system-call ABI: its audit number and the numbers of the calls the filter names."""

    name: str
    audit: int
    syscalls: dict[str, int]
    foreign_bit: int | None = None


_X86_64 = Arch(
    "x86_64",
    0xC000003E,
    {
        "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
        "rt_tgsigqueueinfo": 297, "pidfd_send_signal": 424, "pidfd_getfd": 438, "clone": 56,
        "fork": 57, "vfork": 58, "clone3": 435, "socket": 41, "socketpair": 53, "setsid": 112,
        "setpgid": 109, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "kcmp": 312, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166,
        "pivot_root": 155, "chroot": 161, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "bpf": 321,
        "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248,
        "request_key": 249, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320, "reboot": 169,
        "swapon": 167, "swapoff": 168, "acct": 163, "open_by_handle_at": 304,
        "name_to_handle_at": 303, "quotactl": 179, "syslog": 103, "iopl": 172, "ioperm": 173,
        "personality": 135, "fanotify_init": 300, "settimeofday": 164, "clock_settime": 227,
        "adjtimex": 159, "clock_adjtime": 305, "vhangup": 153, "seccomp": 317, "capset": 126,
        "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446,
    },
    foreign_bit=0x40000000,  # x32 calls
)  # fmt: skip
_AARCH64 = Arch(
    "aarch64",
    0xC00000B7,
    {
        "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138,
        "rt_tgsigqueueinfo": 240, "pidfd_send_signal": 424, "pidfd_getfd": 438, "clone": 220,
        "clone3": 435, "socket": 198, "socketpair": 199, "setsid": 157, "setpgid": 154,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429,
        "open_tree": 428, "mount_setattr": 442, "bpf": 280, "perf_event_open": 241,
        "userfaultfd": 282, "keyctl": 219, "add_key": 217, "request_key": 218,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104,
        "kexec_file_load": 294, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "quotactl": 60, "syslog": 116,
        "personality": 92, "fanotify_init": 262, "settimeofday": 170, "clock_settime": 112,
        "adjtimex": 171, "clock_adjtime": 266, "vhangup": 58, "seccomp": 277, "capset": 91,
        "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446,
    },
)  # fmt: skip
_ARCHES = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}


def native_arch() -> Arch | None:
    """The ABI of this machine, or None when the filter does not know it."""
    return _ARCHES.get(platform.machine().lower())


class _Assembler:
    """Classic BPF with forward jumps to labels (jump offsets are resolved at the end)."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def load(self, offset: int) -> None:
        self.code.append((_LD_W_ABS, 0, 0, offset))

    def jump(self, op: int, k: int, true: str | int = 0, false: str | int = 0) -> None:
        self.code.append((op, true, false, k & 0xFFFFFFFF))

    def ret(self, value: int) -> None:
        self.code.append((_RET, 0, 0, value))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (op, true, false, k) in enumerate(self.code):
            jt, jf = (self._offset(index, target) for target in (true, false))
            out += struct.pack("=HBBI", op, jt, jf, k)
        return bytes(out)

    def _offset(self, index: int, target: str | int) -> int:
        if isinstance(target, int):
            return target
        offset = self.labels[target] - index - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"seccomp filter jump to {target} out of range ({offset})")
        return offset


@dataclass(frozen=True)
class Program:
    """The assembled filter and where the snippet's own pid goes (patched in the child)."""

    code: bytes
    pid_slots: tuple[tuple[int, bool], ...]
    """(instruction index, negated) of each comparison with the snippet's pid."""

    def with_pid(self, pid: int) -> bytearray:
        """The filter's bytes with the pid filled in (cheap: runs between fork and exec)."""
        code = bytearray(self.code)
        for index, negated in self.pid_slots:
            struct.pack_into("=I", code, index * 8 + 4, (-pid if negated else pid) & 0xFFFFFFFF)
        return code


def build_program(arch: Arch, *, network: bool, notify_forks: bool) -> Program:
    """The filter for ``arch``; forks go to the supervisor, or fail with EAGAIN without it."""
    nr = arch.syscalls
    asm = _Assembler()
    asm.load(_OFF_ARCH)
    asm.jump(_JEQ, arch.audit, 1, 0)
    asm.ret(RET_KILL_PROCESS)
    asm.load(_OFF_NR)
    if arch.foreign_bit is not None:
        asm.jump(_JSET, arch.foreign_bit, "kill", 0)
    for name in _DENIED:
        if name in nr:
            asm.jump(_JEQ, nr[name], "eperm", 0)
    for name in _NOT_IMPLEMENTED:
        asm.jump(_JEQ, nr[name], "enosys", 0)
    for name in ("kill", "rt_sigqueueinfo"):
        asm.jump(_JEQ, nr[name], "signal_process", 0)
    for name in ("tgkill", "rt_tgsigqueueinfo"):
        asm.jump(_JEQ, nr[name], "signal_thread", 0)
    asm.jump(_JEQ, nr["clone"], "clone", 0)
    for name in ("fork", "vfork"):
        if name in nr:
            asm.jump(_JEQ, nr[name], "new_process", 0)
    if not network:
        asm.jump(_JEQ, nr["socket"], "eacces", 0)
        asm.jump(_JEQ, nr["socketpair"], "socketpair", 0)
    asm.ret(RET_ALLOW)

    slots: list[tuple[int, bool]] = []
    asm.label("signal_process")
    asm.load(_OFF_ARG0)
    asm.jump(_JEQ, 0, "allow", 0)
    slots.append((len(asm.code), False))
    asm.jump(_JEQ, 0, "allow", 0)
    slots.append((len(asm.code), True))
    asm.jump(_JEQ, 0, "allow", "eperm")
    asm.label("signal_thread")
    asm.load(_OFF_ARG0)
    slots.append((len(asm.code), False))
    asm.jump(_JEQ, 0, "allow", "eperm")
    asm.label("clone")
    asm.load(_OFF_ARG0)
    asm.jump(_JSET, _CLONE_NAMESPACES, "eperm", 0)
    asm.jump(_JSET, _CLONE_THREAD, "allow", "new_process")
    asm.label("socketpair")
    asm.load(_OFF_ARG0)
    asm.jump(_JEQ, _AF_UNIX, "allow", "eacces")
    asm.label("new_process")
    asm.ret(RET_USER_NOTIF if notify_forks else RET_ERRNO | errno.EAGAIN)
    asm.label("allow")
    asm.ret(RET_ALLOW)
    asm.label("eperm")
    asm.ret(RET_ERRNO | errno.EPERM)
    asm.label("eacces")
    asm.ret(RET_ERRNO | errno.EACCES)
    asm.label("enosys")
    asm.ret(RET_ERRNO | errno.ENOSYS)
    asm.label("kill")
    asm.ret(RET_KILL_PROCESS)
    return Program(asm.assemble(), tuple(slots))


class SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """The C library, with ``syscall`` returning a long and errno kept."""
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.syscall.restype = ctypes.c_long
        lib.prctl.restype = ctypes.c_int
        _libc = lib
    return _libc


def syscall(number: int, *args: int | ctypes._SimpleCData[int] | ctypes._CArgObject) -> int:
    """``syscall(number, *args)``; raises OSError with errno on failure."""
    converted = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    result = int(libc().syscall(ctypes.c_long(number), *converted))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def notification_sizes(arch: Arch) -> tuple[int, int] | None:
    """(sizeof seccomp_notif, sizeof seccomp_notif_resp) when user notifications work."""
    action = ctypes.c_uint32(RET_USER_NOTIF)
    sizes = (ctypes.c_uint16 * 3)()
    try:
        syscall(arch.syscalls["seccomp"], SECCOMP_GET_ACTION_AVAIL, 0, ctypes.byref(action))
        syscall(arch.syscalls["seccomp"], SECCOMP_GET_NOTIF_SIZES, 0, ctypes.byref(sizes))
    except OSError:
        return None
    return int(sizes[0]), int(sizes[1])
