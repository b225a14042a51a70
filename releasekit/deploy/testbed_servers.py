"""The local servers of the testbed: Debian's docker-registry and pypiserver on 127.0.0.1.

Each server runs in a session of its own, records its pid, URL, data folder and log in a
``Service``, and is stopped by signalling that session. ``owns`` tells a server started
here from another process that reuses its pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from releasekit.core import http
from releasekit.core.errors import HttpError, PublishError
from releasekit.core.net import free_port
from releasekit.core.run import register_secret, require_tool, spawn

__all__ = [
    "PROBES",
    "Service",
    "alive",
    "owns",
    "start_pypi",
    "start_registry",
    "stop",
    "wait_http",
]

PROBES = {"registry": "/v2/", "pypi": "/simple/"}
"""The URL path each server answers once it is up."""


@dataclass(frozen=True)
class Service:
    """A running local server: its name, pid, URL, data folder and log."""

    name: str
    pid: int
    url: str
    data: str
    log: str

    @property
    def host(self) -> str:
        """``host:port`` of the server (as docker and helm name a registry)."""
        return self.url.split("://", 1)[1].rstrip("/")

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def wait_http(url: str, timeout: float = 30.0, log: Path | None = None) -> None:
    """Wait until ``url`` answers any HTTP status; PublishError with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(url):
            return
        time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise PublishError(f"{url} did not answer within {timeout:.0f} s.{tail}")


def _answers(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers with any HTTP status."""
    try:
        http.get(url, timeout=timeout, retries=0)
    except HttpError:
        return False
    return True


def _registry_htpasswd(path: Path, user: str, password: str) -> None:
    """An htpasswd file with one bcrypt entry (the only scheme the registry accepts)."""
    import bcrypt

    register_secret(password)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    path.write_text(f"{user}:{hashed.replace('$2b$', '$2a$', 1)}\n", encoding="utf-8")
    os.chmod(path, 0o600)


def start_registry(
    data: Path, port: int | None = None, auth: tuple[str, str] | None = None
) -> Service:
    """Start Debian's docker-registry on 127.0.0.1 with its storage under ``data``.

    With ``auth`` (user, password) every request needs HTTP basic credentials (htpasswd),
    as a private registry would.
    """
    exe = require_tool(
        "docker-registry", "Install it with `apt-get install docker-registry` (scripts/setup.sh)."
    )
    port = port or free_port()
    data.mkdir(parents=True, exist_ok=True)
    config = data / "config.yml"
    storage = data / "storage"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        + (
            f"auth:\n  htpasswd:\n    realm: releasekit\n    path: {data / 'htpasswd'}\n"
            if auth
            else ""
        ),
        encoding="utf-8",
    )
    if auth:
        _registry_htpasswd(data / "htpasswd", *auth)
    log = data / "registry.log"
    proc = spawn([exe, "serve", str(config)], log=log)
    service = Service("registry", proc.pid, f"http://127.0.0.1:{port}", str(data), str(log))
    wait_http(f"{service.url}/v2/", log=log)
    return service


def start_pypi(data: Path, user: str, password: str, port: int | None = None) -> Service:
    """Start pypiserver on 127.0.0.1; uploads need ``user``/``password`` (htpasswd)."""
    exe = require_tool("pypi-server", "Install it with `pip install pypiserver passlib`.")
    register_secret(password)
    port = port or free_port()
    packages = data / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    from passlib.apache import HtpasswdFile

    htpasswd = HtpasswdFile(str(data / "htpasswd"), new=True)
    htpasswd.set_password(user, password)
    htpasswd.save()
    os.chmod(data / "htpasswd", 0o600)
    log = data / "pypi.log"
    argv = [
        exe,
        "run",
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-P",
        str(data / "htpasswd"),
        "-a",
        "update",
        "--disable-fallback",
        str(packages),
    ]
    proc = spawn(argv, log=log)
    service = Service("pypi", proc.pid, f"http://127.0.0.1:{port}", str(data), str(log))
    wait_http(f"{service.url}/simple/", log=log)
    return service


def stop(service: Service, timeout: float = 10.0) -> None:
    """Stop a server started here (SIGTERM to its session, SIGKILL after ``timeout``)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(service.pid, 0)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(service.pid, os.WNOHANG)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.pid, signal.SIGKILL)


def owns(service: Service) -> bool:
    """True while ``service.pid`` is alive and is still the server over ``service.data``."""
    try:
        os.kill(service.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path("/proc") / str(service.pid)
    if not proc.is_dir():
        return True
    with contextlib.suppress(OSError):
        if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        return service.data in proc.joinpath("cmdline").read_bytes().decode(errors="replace")
    return False


def alive(service: Service) -> bool:
    """True while the server of ``service`` runs and answers its probe."""
    return owns(service) and _answers(service.url + PROBES[service.name])
