"""The embedded default target: local OCI registry, package index, git remote and pilot.

``up(root)`` starts them under ``ROOT/.sandbox/`` (git-ignored; ``RELEASEKIT_SANDBOX=PATH``
names another clone's ``.sandbox/`` instead, so clones share one registry, index, git remote
and release key): Debian's docker-registry and
pypiserver bound to 127.0.0.1, a bare git remote, and the folder of the pilot deployment
(``releasekit.deploy.pilot``). ``state.json`` records each server's pid and URL, so ``up`` keeps
what still runs, restarts what died on its old port and data, and ``down`` stops it all.
The servers themselves are started and stopped by ``releasekit.deploy.testbed_servers``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from releasekit.core import manifest
from releasekit.core.errors import ManifestError, PreflightError
from releasekit.core.files import write_json
from releasekit.core.net import free_port, port_free
from releasekit.core.run import register_secret, run
from releasekit.core.workspace import TESTBED_DIR, sandbox_home
from releasekit.deploy import cluster, git_http, pilot
from releasekit.deploy.testbed_servers import (
    PROBES,
    Service,
    alive,
    owns,
    start_pypi,
    start_registry,
    stop,
    wait_http,
)
from releasekit.publish import signing

__all__ = [
    "PYPI_USER",
    "TESTBED_DIR",
    "Credentials",
    "Service",
    "ServiceStatus",
    "SigningPair",
    "TestbedState",
    "credentials",
    "down",
    "free_port",
    "recorded_registry",
    "running",
    "signing_key",
    "start_pypi",
    "start_registry",
    "status",
    "stop",
    "up",
    "wait_http",
]

PYPI_USER = "releasekit"
REGISTRY_PORT = 5555
PYPI_PORT = 5556
_PORT_LOCK = Path(tempfile.gettempdir()) / "releasekit-sandbox-ports.lock"


@dataclass(frozen=True)
class Credentials:
    """The package index's upload user and password."""

    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``invoke sandbox.status``."""

    name: str
    url: str
    pid: int | None
    alive: bool


@dataclass(frozen=True)
class TestbedState:
    """The sandbox as recorded in ``.sandbox/state.json``, with each part's liveness."""

    home: Path
    registry: Service
    pypi: Service
    pypi_user: str
    pypi_password: str = field(repr=False)
    git_remote: Path
    pilot: Path
    services: tuple[ServiceStatus, ...]

    @property
    def registry_host(self) -> str:
        return self.registry.host

    @property
    def pypi_url(self) -> str:
        return self.pypi.url

    @property
    def alive(self) -> bool:
        """True when every part of the sandbox answers."""
        return all(s.alive for s in self.services)

    def to_json(self) -> dict[str, object]:
        """Everything but the password (which lives in ``credentials_file``)."""
        return {
            "home": str(self.home),
            "registry_host": self.registry_host,
            "pypi_url": self.pypi_url,
            "pypi_user": self.pypi_user,
            "credentials_file": str(_credentials_path(self.home)),
            "git_remote": str(self.git_remote),
            "pilot": str(self.pilot),
            "alive": self.alive,
            "services": [asdict(s) for s in self.services],
        }


# --- the sandbox as a whole -------------------------------------------------------------


def _credentials_path(home: Path) -> Path:
    return home / "pypi" / "credentials"


def credentials(root: Path) -> Credentials:
    """The index's upload credentials, generated once into .sandbox/pypi/credentials (0600)."""
    path = _credentials_path(sandbox_home(root))
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"user": PYPI_USER, "password": secrets.token_urlsafe(24)}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
    data = json.loads(path.read_text(encoding="utf-8"))
    register_secret(data["password"])
    return Credentials(str(data["user"]), str(data["password"]))


@dataclass(frozen=True)
class SigningPair:
    """The sandbox's release key pair (cosign) and the password of its private key."""

    key: Path
    public: Path
    password: str = field(repr=False)


def signing_key(root: Path) -> SigningPair:
    """The key pair that signs sandbox releases, made once under .sandbox/keys/ (0600)."""
    key, public, password = signing.ensure_key_pair(sandbox_home(root) / "keys")
    return SigningPair(key, public, password)


def _state_path(home: Path) -> Path:
    return home / "state.json"


def _recorded(home: Path) -> dict[str, Service]:
    path = _state_path(home)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: Service(**fields) for name, fields in data.get("services", {}).items()}


def _record(home: Path, services: dict[str, Service]) -> None:
    data = {"services": {name: s.to_json() for name, s in services.items()}}
    write_json(_state_path(home), data, redacted=False, mode=0o644)


def _ensure(old: Service | None, start: Callable[[int | None], Service], preferred: int) -> Service:
    """``old`` when it still runs; otherwise a fresh server on the old (or preferred) port."""
    if old is not None:
        if alive(old):
            return old
        if owns(old):
            stop(old)
    # Sandboxes of several clones may start at once: one at a time checks a port and starts
    # on it, so two never take the same free port (the second server would die unseen).
    with _PORT_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        for port in (old.port if old else None, preferred):
            if port is not None and port_free(port):
                return start(port)
        return start(None)


def _branch(root: Path) -> str:
    """The release branch of release.toml (``main`` when there is none to read)."""
    with contextlib.suppress(ManifestError):
        return manifest.load(root).branch
    return "main"


def up(root: Path, with_cluster: bool = False) -> TestbedState:
    """Start (or keep) every part of the sandbox under ``root/.sandbox``; idempotent.

    ``with_cluster`` also starts the local Kubernetes control plane and Flux
    (``releasekit.deploy.cluster``) and the GitOps repository's server (``git_http``).
    """
    home = sandbox_home(root)
    home.mkdir(parents=True, exist_ok=True)
    creds = credentials(root)
    services = _recorded(home)
    services["registry"] = _ensure(
        services.get("registry"),
        lambda port: start_registry(home / "registry", port),
        REGISTRY_PORT,
    )
    _record(home, services)
    services["pypi"] = _ensure(
        services.get("pypi"),
        lambda port: start_pypi(home / "pypi", creds.user, creds.password, port),
        PYPI_PORT,
    )
    _record(home, services)
    remote = home / "remote.git"
    if not (remote / "HEAD").is_file():
        run(["git", "init", "--bare", f"--initial-branch={_branch(root)}", str(remote)])
    pilot.pilot_dir(root).mkdir(parents=True, exist_ok=True)
    if with_cluster:
        cluster.up(root)
        git_http.up(root, _branch(root))
    return status(root)


def status(root: Path) -> TestbedState:
    """The recorded sandbox and which of its parts answer right now."""
    home = sandbox_home(root)
    services = _recorded(home)
    missing = [name for name in PROBES if name not in services]
    if missing:
        raise PreflightError(
            f"The sandbox in {home} has no {' or '.join(missing)} recorded in "
            f"{_state_path(home)}: run `invoke sandbox.up` to start it."
        )
    creds = credentials(root)
    remote = home / "remote.git"
    rows = [
        ServiceStatus(s.name, s.url, s.pid, alive(s))
        for s in (services["registry"], services["pypi"])
    ]
    rows.append(ServiceStatus("git-remote", str(remote), None, (remote / "HEAD").is_file()))
    probe = pilot.probe(root)
    if probe is not None:
        rows.append(ServiceStatus("pilot", probe[0], None, probe[1]))
    gitops = git_http.state(root)
    if gitops is not None:
        rows.append(
            ServiceStatus("gitops", git_http.url(gitops), gitops.pid, git_http.alive(gitops))
        )
    with contextlib.suppress(PreflightError):
        local = cluster.status(root)
        rows.append(ServiceStatus("cluster", local.server, None, local.alive))
    return TestbedState(
        home=home,
        registry=services["registry"],
        pypi=services["pypi"],
        pypi_user=creds.user,
        pypi_password=creds.password,
        git_remote=remote,
        pilot=pilot.pilot_dir(root),
        services=tuple(rows),
    )


def recorded_registry(root: Path) -> str:
    """``host:port`` of the sandbox's registry as ``state.json`` records it ("" when none).

    Nothing is probed: a caller that can do without the registry (the shared build cache)
    finds out by asking it.
    """
    service = _recorded(sandbox_home(root)).get("registry")
    return service.host if service is not None else ""


def running(root: Path) -> TestbedState:
    """The sandbox when its servers and git remote answer; PreflightError naming what is down."""
    state = status(root)
    optional = ("pilot", "cluster", "gitops")
    down = [s.name for s in state.services if not s.alive and s.name not in optional]
    if down:
        raise PreflightError(
            f"The sandbox in {state.home} is not running ({', '.join(down)} down): run "
            "`invoke sandbox.up` first."
        )
    return state


def down(root: Path, purge: bool = False) -> None:
    """Stop every server, the pilot and the local cluster; ``purge`` deletes .sandbox too."""
    home = sandbox_home(root)
    cluster.down(root, purge=purge)
    git_http.stop_server(root)
    for service in _recorded(home).values():
        if owns(service):
            stop(service)
    pilot.teardown(root, purge=purge)
    if purge and home.exists():
        shutil.rmtree(home)
