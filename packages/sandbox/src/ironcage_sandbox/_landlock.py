"""Landlock rulesets: what a snippet may read, write and reach, built in the supervisor.

The supervisor builds one ruleset per run (its rules name that run's private directory)
and hands the ruleset's file descriptor to the child, which only calls
``landlock_restrict_self`` between ``fork`` and ``exec``. Rights depend on the kernel's
Landlock ABI: 1 (Linux 5.13) files, 2 renames across directories, 3 truncation, 4 TCP
bind/connect, 5 device ioctls, 6 signals and abstract UNIX sockets scoped to the domain.
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from ironcage_sandbox._seccomp import syscall

__all__ = ["Rule", "abi_version", "build_ruleset", "restrict_self"]

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
_FS_ABI1 = (1 << 13) - 1
REFER = 1 << 13
TRUNCATE = 1 << 14
IOCTL_DEV = 1 << 15
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

READ = EXECUTE | READ_FILE | READ_DIR
"""Read and execute files, list directories."""
WRITE = -1
"""Every right the kernel knows (read, write, create, remove...)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


@dataclass(frozen=True)
class Rule:
    """``access`` (READ, WRITE or a mask) beneath ``path``; a missing path is skipped."""

    path: str
    access: int


@functools.cache
def abi_version() -> int:
    """The kernel's Landlock ABI (0 when Landlock is missing, disabled or filtered out)."""
    try:
        return syscall(_CREATE_RULESET, 0, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


def _fs_rights(abi: int) -> int:
    rights = _FS_ABI1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def build_ruleset(rules: Iterable[Rule], *, network: bool) -> int:
    """A ruleset fd allowing ``rules`` only (and no TCP unless ``network``); caller closes it.

    Everything the ABI can restrict is restricted: files beneath no rule are out of reach,
    and from ABI 6 on, signals and abstract UNIX sockets cannot leave the domain.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError("Landlock is not available on this kernel")
    handled = _fs_rights(abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4 and not network:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_SIGNAL | (0 if network else SCOPE_ABSTRACT_UNIX_SOCKET)
        size = 24
    ruleset = syscall(_CREATE_RULESET, ctypes.byref(attr), size, 0)
    try:
        for rule in rules:
            _add_rule(ruleset, rule, handled)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def _add_rule(ruleset: int, rule: Rule, handled: int) -> None:
    try:
        fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        access = handled if rule.access == WRITE else rule.access & handled
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= _FILE_RIGHTS
        beneath = _PathBeneathAttr(access, fd)
        syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(beneath), 0)
    finally:
        os.close(fd)


def restrict_self(ruleset: int) -> None:
    """Enter the ruleset's domain (needs no_new_privs); runs in the child."""
    syscall(_RESTRICT_SELF, ruleset, 0)
