"""BuildKit: the daemon the images build on, and the ``buildctl`` calls that build them.

With ``BUILDKIT_HOST`` set (``unix:///path`` or ``tcp://host:port``, as ``docker buildx
--driver remote`` takes it) every build goes to that builder. Otherwise the toolkit runs its
own ``buildkitd``: its state under ``~/.cache/releasekit/buildkit/`` (or
``$RELEASEKIT_BUILDKIT_STATE``), its config and socket in the workspace's
``build/buildkit/``; the config marks the loopback registries the release uses as plain
HTTP. A daemon already running on that state is reused (its pid and address are recorded in
``<state>/daemon.json``); ``stop`` ends it (``invoke build.buildkit --stop``).

``build`` runs one ``buildctl build`` with the ``dockerfile.v0`` frontend built into the
daemon (nothing is pulled to parse a Dockerfile) and returns the metadata file's content.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import platform as host_arch
import re
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releasekit.core.errors import PreflightError, ToolError
from releasekit.core.run import register_secret, require_tool, run, spawn

__all__ = [
    "HOST_ENV",
    "STATE_ENV",
    "Credentials",
    "Daemon",
    "build",
    "config_text",
    "ensure",
    "host_platform",
    "insecure",
    "platforms",
    "running",
    "state_dir",
    "stop",
    "summary",
]

HOST_ENV = "BUILDKIT_HOST"
STATE_ENV = "RELEASEKIT_BUILDKIT_STATE"
_SOCKET_MAX = 100
_SETUP = "Run `scripts/setup.sh --with docker` as root (it runs scripts/build-buildkit.sh)"
_START_TIMEOUT = 60.0  # a loaded machine (two builds beside it) starts it slowly
_BUILD_TIMEOUT = 3600
_LOCK = threading.Lock()
_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$")
_STEP = re.compile(r"^#(\d+) (\[.*)$")
_CACHED = re.compile(r"^#(\d+) CACHED$")


@dataclass(frozen=True)
class Daemon:
    """A BuildKit daemon: where ``buildctl`` reaches it, and whether the toolkit runs it."""

    address: str
    own: bool
    pid: int | None = None


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the toolkit's buildkitd keeps its state: ``$RELEASEKIT_BUILDKIT_STATE`` or
    ``~/.cache/releasekit/buildkit``."""
    env = os.environ if environ is None else environ
    chosen = env.get(STATE_ENV, "").strip()
    return Path(chosen) if chosen else Path.home() / ".cache" / "releasekit" / "buildkit"


def insecure(host: str) -> bool:
    """True for a loopback registry (``127.0.0.1:5000``, ``localhost:5000``): plain HTTP."""
    return _LOOPBACK.match(host) is not None


def host_platform() -> str:
    """This machine's platform as BuildKit names it: ``linux/amd64`` or ``linux/arm64``."""
    machine = host_arch.machine().lower()
    return {"x86_64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64"}.get(
        machine, f"linux/{machine}"
    )


def config_text(state: Path, address: str, registries: Sequence[str] = ()) -> str:
    """buildkitd.toml: the OCI worker on ``state`` at ``address``, loopback registries HTTP."""
    lines = [
        f'root = "{state}"',
        "[grpc]",
        f'  address = ["{address}"]',
        "[worker.oci]",
        "  enabled = true",
        "  gc = true",
        "  [[worker.oci.gcpolicy]]",
        '    keepBytes = "10GB"',
        "[worker.containerd]",
        "  enabled = false",
    ]
    for host in sorted({h for h in registries if insecure(h)}):
        lines += [f'[registry."{host}"]', "  http = true", "  insecure = true"]
    return "\n".join(lines) + "\n"


def _buildctl() -> str:
    return require_tool("buildctl", f"{_SETUP}, or set {HOST_ENV} and install buildctl.")


def _answers(address: str) -> bool:
    result = run(
        [_buildctl(), "--addr", address, "debug", "workers"],
        check=False,
        timeout=15,
        mutates=False,
        quiet=True,
    )
    return result.returncode == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by this process) is gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


def _record(state: Path) -> dict[str, Any]:
    try:
        data = json.loads((state / "daemon.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _locked(state: Path) -> Iterator[None]:
    state.mkdir(parents=True, exist_ok=True)
    with _LOCK, (state / "daemon.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _terminate(pid: int, wait: float = 20.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.1)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def running(environ: Mapping[str, str] | None = None) -> Daemon | None:
    """The toolkit's buildkitd on this state when it runs and answers; None else."""
    state = state_dir(environ)
    data = _record(state)
    pid, address = data.get("pid"), str(data.get("address", ""))
    if isinstance(pid, int) and address and _alive(pid) and _answers(address):
        return Daemon(address, own=True, pid=pid)
    return None


def ensure(
    root: Path, registries: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> Daemon:
    """The builder to use: ``$BUILDKIT_HOST``, the toolkit's running buildkitd, or a new one.

    A new buildkitd gets its config and socket in ``<root>/build/buildkit/`` and its state
    in ``state_dir``; PreflightError naming its log when it does not answer in time.
    """
    env = os.environ if environ is None else environ
    remote = env.get(HOST_ENV, "").strip()
    if remote:
        if not _answers(remote):
            raise PreflightError(
                f"The BuildKit daemon at {HOST_ENV}={remote} does not answer "
                f"`buildctl --addr {remote} debug workers`. Start it, fix the address "
                f"(unix:///path/buildkitd.sock or tcp://host:port), or unset {HOST_ENV} to let "
                "the toolkit run its own buildkitd."
            )
        return Daemon(remote, own=False)
    state = state_dir(env)
    with _locked(state):
        found = running(env)
        if found is not None:
            return found
        stale = _record(state).get("pid")
        if isinstance(stale, int) and _alive(stale):
            _terminate(stale)  # ours by its record, but no longer reachable
        return _start(root, state, registries)


def _start(root: Path, state: Path, registries: Sequence[str]) -> Daemon:
    daemon = require_tool("buildkitd", f"{_SETUP}.")
    folder = root / "build" / "buildkit"
    folder.mkdir(parents=True, exist_ok=True)
    socket = folder / "buildkitd.sock"
    if len(str(socket)) > _SOCKET_MAX:
        # A unix socket path holds about 100 bytes: a deep workspace gets one in the temp
        # folder, named after the workspace so that two workspaces never share it.
        digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
        socket = Path(tempfile.gettempdir()) / f"releasekit-buildkitd-{digest}.sock"
    socket.unlink(missing_ok=True)
    address = f"unix://{socket}"
    config = folder / "buildkitd.toml"
    config.write_text(config_text(state / "root", address, registries), encoding="utf-8")
    log = folder / "buildkitd.log"
    argv = [daemon, "--config", str(config), "--oci-worker=true", "--containerd-worker=false"]
    proc = spawn(argv, log=log)
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if socket.exists() and _answers(address):
            record = {"pid": proc.pid, "address": address, "config": str(config)}
            (state / "daemon.json").write_text(json.dumps(record) + "\n", encoding="utf-8")
            return Daemon(address, own=True, pid=proc.pid)
        time.sleep(0.2)
    code = proc.poll()
    if code is None:
        _terminate(proc.pid)
    how = (
        f"exited with status {code}"
        if code is not None
        else f"did not answer on {address} within {_START_TIMEOUT:.0f} s"
    )
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.is_file() else ""
    raise PreflightError(
        f"buildkitd {how} (log {log}, state {state}). It runs as root with runc; check "
        f"`invoke doctor`, or set {HOST_ENV} to a running builder.\n{tail or '(its log is empty)'}"
    )


def stop(environ: Mapping[str, str] | None = None) -> int | None:
    """Stop the toolkit's buildkitd on this state; its pid, or None when none ran."""
    state = state_dir(environ)
    with _locked(state):
        data = _record(state)
        pid = data.get("pid")
        (state / "daemon.json").unlink(missing_ok=True)
        if not isinstance(pid, int) or not _alive(pid):
            return None
        _terminate(pid)
        address = str(data.get("address", ""))
        if address.startswith("unix://"):
            Path(address.removeprefix("unix://")).unlink(missing_ok=True)
        return pid


def platforms(daemon: Daemon) -> set[str]:
    """The platforms the daemon's workers can build (``buildctl debug workers``)."""
    result = run(
        [_buildctl(), "--addr", daemon.address, "debug", "workers", "--format", "{{json .}}"],
        timeout=30,
        mutates=False,
        quiet=True,
        hint=f"The BuildKit daemon at {daemon.address} did not list its workers.",
    )
    found: set[str] = set()
    for worker in json.loads(result.stdout or "[]"):
        for item in worker.get("platforms") or []:
            name = f"{item.get('os')}/{item.get('architecture')}"
            found.add(f"{name}/{item['variant']}" if item.get("variant") else name)
    return found


def summary(log: str) -> str:
    """``N steps, M cached`` from a ``--progress=plain`` log."""
    steps = {m.group(1) for line in log.splitlines() if (m := _STEP.match(line))}
    cached = {m.group(1) for line in log.splitlines() if (m := _CACHED.match(line))}
    return f"{len(steps)} steps, {len(cached & steps)} cached"


@dataclass(frozen=True)
class Credentials:
    """A registry login for buildctl: host, user and password (never written to a log)."""

    host: str
    username: str
    password: str = field(repr=False)


@contextlib.contextmanager
def _docker_config(auth: Credentials | None) -> Iterator[dict[str, str] | None]:
    """``DOCKER_CONFIG`` naming a private folder whose config.json logs in to ``auth.host``."""
    if auth is None or not auth.username:
        yield None
        return
    register_secret(auth.password)
    token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
    with tempfile.TemporaryDirectory(prefix="releasekit-buildctl-") as folder:
        path = Path(folder) / "config.json"
        path.touch(mode=0o600)
        path.write_text(json.dumps({"auths": {auth.host: {"auth": token}}}), encoding="utf-8")
        yield {"DOCKER_CONFIG": folder}


def build(
    daemon: Daemon,
    argv: Sequence[str],
    *,
    metadata: Path,
    log: Path,
    what: str,
    hint: str,
    auth: Credentials | None = None,
) -> dict[str, Any]:
    """Run ``buildctl build ARGV`` on ``daemon``; the metadata file's content.

    The ``--progress=plain`` output goes to ``log``; a failure raises ToolError with the
    tail of it, naming ``what`` failed and ``hint``. ``auth`` logs buildctl in to a registry
    (its cache and pushes) through a Docker config that exists only during the call.
    """
    metadata.unlink(missing_ok=True)
    full = [_buildctl(), "--addr", daemon.address, "build", "--progress=plain", *argv]
    full += ["--metadata-file", str(metadata)]
    with _docker_config(auth) as env:
        result = run(full, check=False, timeout=_BUILD_TIMEOUT, quiet=True, env=env)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(full)}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).rstrip().splitlines()[-30:])
        raise ToolError(full, result.returncode, tail, f"{what} failed. {hint} Full log: {log}.")
    try:
        data = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    return data if isinstance(data, dict) else {}
