"""The one place that starts processes.

Commands are argument lists, never shell strings. A child process gets an allow-listed
environment (``base_env``: PATH, HOME, locale, temp dirs, the docker, kube, helm, uv, git
and CI settings; never a variable whose name looks secret), then the call's ``env`` (plain
settings; a secret-looking name there is refused), then the call's ``secrets``: each call
site names the secrets its tool needs (twine its upload credentials, cosign its key and
password, git its auth header), and every other process, builds and smoke tests included,
receives none. Secrets are redacted from every line this module prints or puts into an
error. In dry-run mode the commands are recorded instead of executed.

A thread may send its commands' output somewhere of its own (``captured``): every command
line and everything the command printed go, redacted, to that writer instead of stderr,
and setting the thread's cancel event kills a running command (its whole process group).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from releasekit.core.errors import Cancelled, ToolError, ToolMissingError

__all__ = [
    "CLOUD_CREDENTIALS", "REDACTED", "Result", "Runner", "base_env", "captured", "check_cancelled",
    "child_env", "cloud_credentials", "looks_secret", "pipe", "redact", "redact_data",
    "register_secret", "require_tool", "run", "runner", "secrets_from_env", "spawn",
]  # fmt: skip

REDACTED = "***"
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|CREDENTIAL)", re.IGNORECASE)
_secrets: set[str] = set()
_TAIL_LINES = 30
# Values of secret-looking variables that are switches, not secrets: redacting them would
# mangle ordinary words ("true") in every line and file.
_NOT_SECRETS = {"true", "false", "yes", "no", "on", "off", "none", "null", "enabled", "disabled"}
_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
_BASE_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
        "TMPDIR", "TMP", "TEMP", "SOURCE_DATE_EPOCH", "NO_COLOR", "FORCE_COLOR", "COLUMNS",
        "CI", "VIRTUAL_ENV", "KUBECONFIG", "BUILDKIT_HOST", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
        "http_proxy", "https_proxy", "no_proxy", "AWS_PROFILE", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYENV_ROOT",
        "PYENV_VERSION",
    }
)  # fmt: skip
_BASE_PREFIXES = (
    "LC_", "XDG_", "GITHUB_", "RUNNER_", "DOCKER_", "HELM_", "UV_", "PIP_", "GIT_", "SIGSTORE_",
)  # fmt: skip
# git reads extra config (an auth header) from these: only git calls that are given it.
_GIT_CONFIG = re.compile(r"^GIT_CONFIG_(COUNT|KEY_\d+|VALUE_\d+|PARAMETERS)$")
CLOUD_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
"""The variables a cloud provider's tools (terraform, helm's kubeconfig plugins) sign in with."""
_POLL = 0.2


@dataclass(frozen=True)
class _Capture:
    write: Callable[[str], None]
    cancel: threading.Event


_local = threading.local()


@contextmanager
def captured(write: Callable[[str], None], cancel: threading.Event) -> Iterator[None]:
    """In this thread, send command lines and output to ``write``; ``cancel`` kills commands.

    ``write`` receives one redacted line per call: ``$ argv``, then every line the command
    printed (stdout, then stderr) once it ends, quiet commands included.
    """
    previous = getattr(_local, "capture", None)
    _local.capture = _Capture(write, cancel)
    try:
        yield
    finally:
        _local.capture = previous


def check_cancelled() -> None:
    """Raise Cancelled when this thread's ``captured`` cancel event is set."""
    capture: _Capture | None = getattr(_local, "capture", None)
    if capture is not None and capture.cancel.is_set():
        raise Cancelled("Stopped because another artifact of the build failed.")


def register_secret(value: str | None) -> None:
    """Redact ``value`` from every line printed from now on.

    Values under 4 characters and switch words (``true``, ``off``, ...) are ignored.
    """
    if value and len(value) >= 4 and value.strip().lower() not in _NOT_SECRETS:
        _secrets.add(value)


def secrets_from_env(environ: Mapping[str, str] | None = None) -> None:
    """Register the value of every environment variable whose name looks secret."""
    for name, value in (os.environ if environ is None else environ).items():
        if _SECRET_NAME.search(name):
            register_secret(value)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """Return ``text`` with every registered secret (and ``extra``) replaced by ``***``."""
    for secret in sorted({*_secrets, *(e for e in extra if e and len(e) >= 4)}, key=len)[::-1]:
        text = text.replace(secret, REDACTED)
    return text


def redact_data(data: object) -> object:
    """A copy of JSON-like ``data`` with secrets redacted in every string (keys included)."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact_data(k): redact_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    return data


def looks_secret(name: str) -> bool:
    """True for a variable name that says it holds a secret (``*_TOKEN``, ``*PASSWORD``...)."""
    return _SECRET_NAME.search(name) is not None


def base_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of ours that every child process gets: the allow-list, nothing secret."""
    return {
        name: value
        for name, value in (os.environ if environ is None else environ).items()
        if (name in _BASE_NAMES or name.startswith(_BASE_PREFIXES))
        and not _SECRET_NAME.search(name)
        and not _GIT_CONFIG.match(name)
    }


def cloud_credentials(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``CLOUD_CREDENTIALS`` that are set, for ``secrets=`` of a tool that signs in."""
    env = os.environ if environ is None else environ
    return {name: env[name] for name in CLOUD_CREDENTIALS if env.get(name)}


def child_env(
    env: Mapping[str, str] | None = None, secrets: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a child process: ``base_env``, no prompts, ``env``, ``secrets``.

    ValueError when ``env`` holds a name that looks secret: such a value goes in ``secrets``,
    where the call site names it as a secret of that tool.
    """
    for name in env or {}:
        if _SECRET_NAME.search(name):
            raise ValueError(f"`{name}` looks secret: pass it in `secrets=`, not `env=`")
    for value in (secrets or {}).values():
        register_secret(value)
    return {**base_env(), **_NO_PROMPT, **(env or {}), **(secrets or {})}


@dataclass(frozen=True)
class Result:
    """What a finished (or dry-run) command produced."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    dry_run: bool = False


@dataclass
class Runner:
    """Runs commands; swap ``runner`` in tests or set ``dry_run`` to record instead of running."""

    dry_run: bool = False
    echo: bool = True
    recorded: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(
        self,
        argv: Sequence[str | Path],
        *,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        timeout: float | None = 900,
        check: bool = True,
        input: str | None = None,
        capture: bool = True,
        mutates: bool = True,
        quiet: bool = False,
        hint: str = "",
    ) -> Result:
        args = tuple(str(a) for a in argv)
        if not args:
            raise ValueError("empty argv")
        environment = child_env(env, secrets)
        shown = _shorten(redact(" ".join(args)), len(args))
        sink: _Capture | None = getattr(_local, "capture", None)
        echo = self.echo and not quiet
        if self.dry_run and mutates:
            self.recorded.append(args)
            if sink is not None:
                sink.write(f"[dry-run] $ {shown}")
            elif echo:
                print(f"[dry-run] $ {shown}", file=sys.stderr)
            return Result(args, 0, "", "", dry_run=True)
        if sink is not None:
            sink.write(f"$ {shown}")
        elif echo:
            print(f"$ {shown}", file=sys.stderr)
        try:
            if sink is None:
                proc = subprocess.run(
                    args,
                    cwd=cwd,
                    env=environment,
                    timeout=timeout,
                    input=input,
                    stdin=subprocess.DEVNULL if input is None else None,
                    text=True,
                    capture_output=capture,
                    check=False,
                )
            else:
                proc = _cancellable(args, cwd, environment, timeout, input, sink)
        except FileNotFoundError:
            raise ToolMissingError(
                f"`{args[0]}` is not installed or not on PATH (needed for `{shown}`). "
                "Run `scripts/setup.sh` as root, or `invoke doctor` for how to install it."
            ) from None
        except subprocess.TimeoutExpired as exc:
            if sink is not None:
                _write_lines(sink, _text(exc.stdout), _text(exc.stderr))
            tail = _tail(_text(exc.stderr) or _text(exc.stdout))
            raise ToolError([redact(a) for a in args], None, redact(tail), hint) from None
        stdout = proc.stdout or ""
        stderr = proc.stderr or ""
        if sink is not None:
            _write_lines(sink, stdout, stderr)
            if proc.returncode != 0:
                sink.write(f"(exit status {proc.returncode})")
        if check and proc.returncode != 0:
            tail = _tail(stderr if stderr.strip() else stdout)
            raise ToolError([redact(a) for a in args], proc.returncode, redact(tail), hint)
        return Result(args, proc.returncode, stdout, stderr)


def _cancellable(
    args: Sequence[str],
    cwd: str | Path | None,
    env: Mapping[str, str],
    timeout: float | None,
    input: str | None,
    sink: _Capture,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a session of its own, killing its process group on cancel or timeout."""
    with subprocess.Popen(
        args,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        waited = 0.0
        pending = input
        while True:
            try:
                stdout, stderr = proc.communicate(pending, timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                pending = None
                waited += _POLL
                over = timeout is not None and waited >= timeout
                if sink.cancel.is_set() or over:
                    _kill_group(proc)
                    stdout, stderr = proc.communicate()
                    if over:
                        raise subprocess.TimeoutExpired(
                            args, timeout or 0, stdout, stderr
                        ) from None
                    _write_lines(sink, stdout, stderr)
                    raise Cancelled(
                        f"`{redact(args[0])}` was stopped because another artifact of the "
                        "build failed."
                    ) from None
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _write_lines(sink: _Capture, stdout: str, stderr: str) -> None:
    for text in (stdout, stderr):
        for line in text.splitlines():
            sink.write(redact(line))


def _shorten(shown: str, count: int, limit: int = 400) -> str:
    """A command line for people: past ``limit`` characters, its head and its argument count."""
    if len(shown) <= limit:
        return shown
    return f"{shown[: limit - 100]} ... ({count} arguments in all)"


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def _tail(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


runner = Runner()


def run(argv: Sequence[str | Path], **kwargs: object) -> Result:
    """Run ``argv`` with the module's current runner (see ``Runner.__call__``)."""
    return runner(argv, **kwargs)  # type: ignore[arg-type]


def require_tool(name: str, hint: str) -> str:
    """The path of tool ``name`` (beside this interpreter, or on PATH); ToolMissingError else."""
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.is_file() else shutil.which(name)
    if path is None:
        raise ToolMissingError(f"`{name}` is not installed or not on PATH. {hint}")
    return path


def spawn(
    argv: Sequence[str | Path],
    *,
    log: Path,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running server in its own session, its output appended to ``log``.

    Its environment is ``child_env(env, secrets)``, as for ``Runner.__call__``.
    """
    args = [str(a) for a in argv]
    environment = child_env(env, secrets)
    if runner.echo:
        print(f"$ {redact(' '.join(args))} &", file=sys.stderr)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        try:
            return subprocess.Popen(
                args,
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise ToolMissingError(
                f"`{args[0]}` is not installed or not on PATH. Run `scripts/setup.sh` as root, "
                "or `invoke doctor` for how to install it."
            ) from None


def pipe(argv: Sequence[str], data: bytes, *, env: Mapping[str, str]) -> tuple[int, bytes, bytes]:
    """Run ``argv`` with ``data`` on stdin (a CGI program): exit status, stdout, stderr (bytes)."""
    proc = subprocess.run(
        list(argv), input=data, capture_output=True, env=child_env(env), timeout=300, check=False
    )
    return proc.returncode, proc.stdout, proc.stderr
