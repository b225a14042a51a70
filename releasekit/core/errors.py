"""Every user-facing error of the engine, and the exit code each maps to.

Only the command layer (tasks) turns these into process exits; the engine raises them.
A message names the file, the bad value and the fix, in one paragraph.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BuildError",
    "Cancelled",
    "ConflictError",
    "GraphError",
    "HttpError",
    "LockError",
    "ManifestError",
    "PreflightError",
    "PublishError",
    "ReleaseError",
    "ToolError",
    "ToolMissingError",
    "VerificationError",
    "VersionError",
]


class ReleaseError(Exception):
    """Root of every error the engine reports to a person."""

    exit_code = 1


class ManifestError(ReleaseError):
    """release.toml is missing, malformed or names something that does not exist."""

    exit_code = 2


class VersionError(ReleaseError):
    """A version string is invalid, not increasing, or version sites disagree."""

    exit_code = 3


class GraphError(ReleaseError):
    """The package dependency graph is broken (a cycle, an unknown package)."""

    exit_code = 4


class ToolError(ReleaseError):
    """An external command failed; carries its argv, exit code and stderr tail."""

    exit_code = 5

    def __init__(
        self, argv: Sequence[str], returncode: int | None, stderr_tail: str, hint: str = ""
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.hint = hint
        how = "timed out" if returncode is None else f"exited with status {returncode}"
        message = f"Command `{' '.join(self.argv)}` {how}."
        if stderr_tail.strip():
            message += f"\nLast lines of its output:\n{stderr_tail.rstrip()}"
        if hint:
            message += f"\n{hint}"
        super().__init__(message)


class ToolMissingError(ReleaseError):
    """A required external tool is not installed."""

    exit_code = 6


class PublishError(ReleaseError):
    """A destination refused an artifact or could not be reached."""

    exit_code = 7


class HttpError(PublishError):
    """An HTTP request got no answer (``status`` None) or an error status; never names secrets."""

    def __init__(self, message: str, url: str, status: int | None, reason: str = "") -> None:
        self.url = url
        self.status = status
        self.reason = reason or message
        super().__init__(message)


class ConflictError(PublishError):
    """The destination already holds different content under the same name."""

    exit_code = 8


class PreflightError(ReleaseError):
    """A release cannot start: dirty tree, wrong branch, unreachable target..."""

    exit_code = 9


class LockError(ReleaseError):
    """Another release holds the lock."""

    exit_code = 10


class VerificationError(PublishError):
    """A published artifact no longer matches the release record, or its signature fails."""

    exit_code = 11


class Cancelled(ReleaseError):
    """Work stopped on purpose because another part of the same build failed."""

    exit_code = 12


class BuildError(ReleaseError):
    """One artifact of a build failed; names it, the tail of its log and the log's path.

    The exit code is that of the artifact's own error (a ToolError stays 5).
    """

    def __init__(self, artifact: str, cause: BaseException, log: str, tail: str) -> None:
        self.artifact = artifact
        self.cause = cause
        self.log = log
        self.exit_code = cause.exit_code if isinstance(cause, ReleaseError) else 1
        output = cause.stderr_tail.strip().splitlines() if isinstance(cause, ToolError) else []
        if isinstance(cause, ToolError) and (not output or output[-1] in tail):
            # The log holds the command's output already: say what failed, not the output twice.
            how = (
                "timed out"
                if cause.returncode is None
                else f"exited with status {cause.returncode}"
            )
            what = f"Command `{' '.join(cause.argv)}` {how}." + (
                f" {cause.hint}" if cause.hint else ""
            )
        else:
            what = str(cause).strip() or type(cause).__name__
        message = f"Building {artifact} failed."
        if tail.strip():
            message += f" Last lines of its log:\n{tail.rstrip()}\n"
        message += f"\n{what}\nFull log: {log}"
        super().__init__(message)
