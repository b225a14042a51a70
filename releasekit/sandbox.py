"""The embedded default target: a local OCI registry and a local package index.

Both run as real servers bound to 127.0.0.1, keep their data under a folder of the
caller's choice, and are stopped by pid. The release pipeline and the tests share them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from passlib.apache import HtpasswdFile

from releasekit.errors import PublishError
from releasekit.run import register_secret, require_tool, spawn

__all__ = [
    "Service",
    "free_port",
    "start_pypi",
    "start_registry",
    "stop",
    "wait_http",
]


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

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, log: Path | None = None) -> None:
    """Wait until ``url`` answers any HTTP status; PublishError with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise PublishError(f"{url} did not answer within {timeout:.0f} s.{tail}")


def start_registry(data: Path, port: int | None = None) -> Service:
    """Start Debian's docker-registry on 127.0.0.1 with its storage under ``data``."""
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
        f"http:\n  addr: 127.0.0.1:{port}\n",
        encoding="utf-8",
    )
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


def save(services: list[Service], path: Path) -> None:
    """Record running services in ``path`` (JSON), for status and stop."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([s.to_json() for s in services], indent=2), encoding="utf-8")
