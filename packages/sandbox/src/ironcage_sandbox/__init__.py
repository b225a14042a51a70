"""ironcage-sandbox: run a Python snippet in an isolated, resource-limited subprocess.

>>> from ironcage_sandbox import run
>>> run("print(6 * 7)").stdout
'42\\n'
"""

from __future__ import annotations

from ironcage_sandbox._confine import Confinement, confinement_support
from ironcage_sandbox._core import (
    ISOLATION_FLAGS,
    Limits,
    Python,
    Result,
    SandboxError,
    StopReason,
    interpreter_argv,
    run,
    run_with_limits,
)

__version__ = "0.1.0"

__all__ = [
    "ISOLATION_FLAGS",
    "Confinement",
    "Limits",
    "Python",
    "Result",
    "SandboxError",
    "StopReason",
    "__version__",
    "confinement_support",
    "interpreter_argv",
    "run",
    "run_with_limits",
]
