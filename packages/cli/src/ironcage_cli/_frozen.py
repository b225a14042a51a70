"""Support for running snippets when ``ironcage`` is a frozen (PyInstaller) binary.

A frozen binary has no separate Python interpreter: ``sys.executable`` is the binary itself. The
sandbox therefore re-invokes the binary as ``ironcage __sandbox-exec SCRIPT``, and ``main()``
hands that over to :func:`sandbox_exec`, which runs the script like ``python SCRIPT`` would.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
import traceback
from collections.abc import Sequence

import ironcage_sandbox

SANDBOX_EXEC = "__sandbox-exec"
_PYTHON_FLAG_LETTERS = frozenset("BEIPSsu")


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def sandbox_python() -> str | list[str]:
    """The interpreter for :func:`ironcage_sandbox.run`: the binary's hidden mode when frozen."""
    if is_frozen():
        return [sys.executable, SANDBOX_EXEC]
    return sys.executable


def sandbox_confinement() -> ironcage_sandbox.Confinement:
    """The sandbox's default confinement; a frozen binary may also read its own files.

    A one-file binary started for a snippet unpacks itself into the run's private
    ``TMPDIR`` (removed after the run) and reads its own Python files, which sit on
    ``sys.path`` and under ``sys.prefix``.
    """
    if not is_frozen():
        return ironcage_sandbox.Confinement()
    paths = {sys.prefix, sys.base_prefix, *sys.path}
    return ironcage_sandbox.Confinement(
        read_paths=tuple(sorted(p for p in paths if p and os.path.isabs(p)))
    )


def python_flags_prefix(argv: Sequence[str]) -> int:
    """How many leading arguments look like interpreter flags (``-I``, ``-S``, ``-IS``...).

    A frozen binary started the way one starts ``python -I -S SCRIPT`` acts as the interpreter.
    """
    count = 0
    for arg in argv:
        letters = arg[1:]
        if arg.startswith("-") and letters and set(letters) <= _PYTHON_FLAG_LETTERS:
            count += 1
        else:
            break
    return count


def sandbox_exec(argv: Sequence[str]) -> int:
    """Run ``argv[0]`` as ``__main__`` with ``sys.argv = argv``, like ``python SCRIPT ARGS``."""
    if not argv:
        print(f"usage: ironcage {SANDBOX_EXEC} SCRIPT [ARG...]", file=sys.stderr)
        return 2
    path = os.path.abspath(argv[0])
    sys.argv = [argv[0], *argv[1:]]
    sys.path.insert(0, os.path.dirname(path))
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as exc:  # report like the interpreter would, then exit 1
        _report(exc, path)
        return 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    return 0


def _report(exc: BaseException, path: str) -> None:
    """Print the traceback from the script's first frame on (hide runpy and this module)."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != path:
        tb = tb.tb_next
    try:
        traceback.print_exception(type(exc), exc, tb)
    except BaseException:  # e.g. MemoryError while formatting: still say what happened
        os.write(2, f"{type(exc).__name__}\n".encode())
