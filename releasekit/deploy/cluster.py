"""The local Kubernetes control plane of the sandbox: etcd, API server, controllers, kwok.

``up(root)`` starts (or keeps) under ``ROOT/.sandbox/cluster/``: etcd, kube-apiserver with
TLS and RBAC, kube-controller-manager, kube-scheduler and kwok, which plays the kubelet of
one node (pods become Running and Ready; no container ever runs), then Flux's controllers
(``releasekit.deploy.flux``) with their CRDs. Every server listens on 127.0.0.1 on a port
recorded in ``state.json`` and kept across restarts; logs are in ``logs/``; etcd's data stays
in ``etcd/`` until ``down(purge=True)``. The binaries are built by ``scripts/setup.sh``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from releasekit.core import http
from releasekit.core.errors import HttpError, PreflightError, PublishError
from releasekit.core.files import write_json
from releasekit.core.net import free_port, port_free
from releasekit.core.run import require_tool, spawn
from releasekit.deploy import cluster_pki, flux, kube

__all__ = [
    "CLUSTER_DIR",
    "COMPONENTS",
    "CONTEXT",
    "CONTROL_PLANE",
    "ClusterState",
    "ComponentStatus",
    "down",
    "kubeconfig_path",
    "running",
    "status",
    "up",
]

CLUSTER_DIR = Path(".sandbox") / "cluster"
CONTEXT = "releasekit-local"
# Start order; stopped in reverse (the API server before etcd, or it hangs on SIGTERM).
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
COMPONENTS = (*CONTROL_PLANE, *flux.CONTROLLERS)
NODE = "kwok-node-0"
SERVICE_CIDR = "10.0.0.0/24"
_BUILD_HINT = (
    "scripts/setup.sh builds it from the Go module proxy into ~/.cache/releasekit/bin "
    "(about 10 minutes the first time) and links it into /usr/local/bin; run it as root."
)
_START_TIMEOUT = 90.0


@dataclass(frozen=True)
class ComponentStatus:
    """One server of the control plane: its pid, URL, log and whether it answers."""

    name: str
    pid: int | None
    url: str
    log: str
    alive: bool


@dataclass(frozen=True)
class ClusterState:
    """The control plane as recorded in state.json, with the liveness of each part."""

    home: Path
    server: str
    kubeconfig: Path
    context: str
    components: tuple[ComponentStatus, ...]
    nodes_ready: int

    @property
    def alive(self) -> bool:
        return all(c.alive for c in self.components) and self.nodes_ready > 0

    def to_json(self) -> dict[str, object]:
        return {
            "home": str(self.home),
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "context": self.context,
            "alive": self.alive,
            "nodes_ready": self.nodes_ready,
            "components": [asdict(c) for c in self.components],
        }


def kubeconfig_path(root: Path) -> Path:
    """The admin kubeconfig of the local cluster (``KUBECONFIG=`` this for helm or kubectl)."""
    return root / CLUSTER_DIR / "kubeconfig"


# -- processes ---------------------------------------------------------------------------


def _owns(pid: int | None, home: Path) -> bool:
    """True while ``pid`` is alive and is a server of the cluster in ``home``."""
    if not pid:
        return False
    proc = Path("/proc") / str(pid)
    try:
        if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if str(home) in proc.joinpath("cmdline").read_bytes().decode(errors="replace"):
            return True
        return os.readlink(proc / "cwd") == str(home)  # Flux's controllers name no path
    except OSError:
        return False


def _stop(pid: int, home: Path, timeout: float = 20.0) -> None:
    """SIGTERM the server's session, SIGKILL after ``timeout``; reaps it when it is a child."""
    if not _owns(pid, home):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _owns(pid, home):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


# -- state -------------------------------------------------------------------------------


def _state_path(home: Path) -> Path:
    return home / "state.json"


def _recorded(home: Path) -> dict[str, dict[str, int]]:
    """``{"ports": {...}, "pids": {...}}`` from state.json (empty when never started)."""
    path = _state_path(home)
    if not path.is_file():
        return {"ports": {}, "pids": {}}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"ports": dict(data.get("ports", {})), "pids": dict(data.get("pids", {}))}


def _record(home: Path, state: dict[str, dict[str, int]]) -> None:
    write_json(_state_path(home), state, redacted=False, mode=0o644)


def _ports(recorded: dict[str, int], pids: dict[str, int], home: Path) -> dict[str, int]:
    """The port of each server: the recorded one while it is free or still ours, else a new one."""
    owner = {"etcd-peer": "etcd", **{p: p.rsplit("-", 1)[0] for p in flux.PORTS}}
    ports: dict[str, int] = {}
    for name in (*COMPONENTS, "etcd-peer", *flux.PORTS):
        old = recorded.get(name)
        keep = old is not None and (_owns(pids.get(owner.get(name, name)), home) or port_free(old))
        keep = keep and old not in ports.values()
        ports[name] = old if keep and old is not None else free_port(ports.values())
    return ports


# -- probes ------------------------------------------------------------------------------


def _url(name: str, ports: dict[str, int]) -> str:
    port = ports[name]
    plain = name in ("etcd", "kwok", *flux.CONTROLLERS)
    return f"http://127.0.0.1:{port}" if plain else f"https://127.0.0.1:{port}"


_PROBES = {
    "etcd": "/health",
    "kube-apiserver": "/readyz",
    "kube-controller-manager": "/healthz",
    "kube-scheduler": "/healthz",
    "kwok": "/healthz",
    **{name: "/readyz" for name in flux.CONTROLLERS},
}


def _answers(url: str, pki: cluster_pki.Pki | None) -> bool:
    """True when ``url`` answers 200; with ``pki``, as the cluster's admin over verified TLS."""
    context = None
    if url.startswith("https://"):
        if pki is not None:
            context = ssl.create_default_context(cafile=str(pki.ca))
            context.load_cert_chain(*map(str, pki.client("admin")))
        else:  # the controllers serve a self-signed certificate made at their start
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    try:
        return http.get(url, timeout=2, retries=0, context=context).status == 200
    except (HttpError, ValueError):
        return False


def _healthy(name: str, ports: dict[str, int], pki: cluster_pki.Pki) -> bool:
    url = _url(name, ports) + _PROBES[name]
    if name == "kwok":
        url = f"http://127.0.0.1:{ports[name]}/healthz"
    return _answers(url, pki if name == "kube-apiserver" else None)


def _wait(
    name: str, ports: dict[str, int], pki: cluster_pki.Pki, exited: Callable[[], int | None],
    log: Path,
) -> None:  # fmt: skip
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if _healthy(name, ports, pki):
            return
        if exited() is not None:
            break
        time.sleep(0.1)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""
    raise PublishError(
        f"{name} of the local cluster did not become healthy on 127.0.0.1:{ports[name]} "
        f"within {_START_TIMEOUT:.0f} s (log {log}):\n{tail}"
    )


# -- the servers -------------------------------------------------------------------------


def _argv(
    name: str, exe: str, home: Path, ports: dict[str, int], pki: cluster_pki.Pki
) -> list[str]:
    """The command line of each server, everything bound to 127.0.0.1."""
    if name == "etcd":
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        return [
            exe, "--name", "releasekit", "--data-dir", str(home / "etcd"),
            "--listen-client-urls", _url("etcd", ports), "--advertise-client-urls",
            _url("etcd", ports), "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
            peer, "--initial-cluster", f"releasekit={peer}", "--unsafe-no-fsync",
            "--log-level", "warn",
        ]  # fmt: skip
    cert, key = pki.server
    if name == "kube-apiserver":
        return [
            exe, "--etcd-servers", _url("etcd", ports), "--bind-address", "127.0.0.1",
            "--secure-port", str(ports[name]), "--cert-dir", str(home / "pki"),
            "--tls-cert-file", str(cert), "--tls-private-key-file", str(key),
            "--client-ca-file", str(pki.ca), "--authorization-mode", "Node,RBAC",
            "--service-account-key-file", str(pki.sa_pub),
            "--service-account-signing-key-file", str(pki.sa_key),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range", SERVICE_CIDR, "--endpoint-reconciler-type", "none",
            "--allow-privileged=true", "--profiling=false",
        ]  # fmt: skip
    own = home / f"{name.removeprefix('kube-')}.kubeconfig"
    common = [
        "--kubeconfig", str(own), "--authentication-kubeconfig", str(own),
        "--authorization-kubeconfig", str(own), "--bind-address", "127.0.0.1",
        "--secure-port", str(ports[name]), "--leader-elect=false", "--profiling=false",
    ]  # fmt: skip
    if name == "kube-controller-manager":
        return [
            exe, *common, "--use-service-account-credentials=true",
            "--service-account-private-key-file", str(pki.sa_key), "--root-ca-file", str(pki.ca),
            "--cluster-signing-cert-file", str(pki.ca), "--cluster-signing-key-file",
            str(pki.ca_key), "--service-cluster-ip-range", SERVICE_CIDR,
            "--cert-dir", str(home / "pki" / "kcm"),
        ]  # fmt: skip
    if name == "kube-scheduler":
        return [exe, *common]
    if name in flux.CONTROLLERS:
        return flux.argv(name, exe, home, ports)
    return [
        exe, "--kubeconfig", str(home / "kubeconfig"), "--config", str(home / "kwok.yaml"),
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
        "--server-address", f"127.0.0.1:{ports['kwok']}", "--node-lease-duration-seconds", "40",
    ]  # fmt: skip


def _write_configs(home: Path, pki: cluster_pki.Pki, server: str) -> None:
    cluster_pki.write_kubeconfig(pki, "admin", server, home / "kubeconfig", CONTEXT)
    for identity in ("controller-manager", "scheduler"):
        path = home / f"{identity}.kubeconfig"
        cluster_pki.write_kubeconfig(pki, identity, server, path, CONTEXT)
    stages = resources.files("releasekit.deploy").joinpath("kwok_stages.yaml").read_text("utf-8")
    (home / "kwok.yaml").write_text(stages, encoding="utf-8")


def up(root: Path) -> ClusterState:
    """Start (or keep) every server of the local cluster and its node; idempotent."""
    home = root / CLUSTER_DIR
    exes = {
        name: require_tool(name, f"`{name}` is missing: {_BUILD_HINT}") for name in CONTROL_PLANE
    }
    exes |= {name: require_tool(name, flux.BUILD_HINT) for name in flux.CONTROLLERS}
    home.mkdir(parents=True, exist_ok=True)
    pki = cluster_pki.ensure(home / "pki")
    state = _recorded(home)
    pids, before = state["pids"], dict(state["ports"])
    ports = _ports(before, pids, home)
    state["ports"] = ports
    server = _url("kube-apiserver", ports)
    _write_configs(home, pki, server)
    moved = False  # a server on a new port: everything after it must learn the new address
    for name in COMPONENTS:
        pid = pids.get(name)
        if not moved and _owns(pid, home) and _healthy(name, ports, pki):
            continue
        moved = moved or before.get(name) != ports[name]
        if pid:
            _stop(pid, home)
        if name == flux.CONTROLLERS[0]:
            kube.wait_node_ready(home / "kubeconfig", CONTEXT, NODE, timeout=_START_TIMEOUT)
            flux.install_crds(kube.Kube(home / "kubeconfig", CONTEXT).api(), exes)
        log = home / "logs" / f"{name}.log"
        env = flux.env(home) if name in flux.CONTROLLERS else None
        proc = spawn(_argv(name, exes[name], home, ports, pki), log=log, cwd=home, env=env)
        pids[name] = proc.pid
        _record(home, state)
        _wait(name, ports, pki, proc.poll, log)
        if name == "kube-apiserver":
            kube.bootstrap(home / "kubeconfig", CONTEXT, NODE)
    _record(home, state)
    kube.wait_node_ready(home / "kubeconfig", CONTEXT, NODE, timeout=_START_TIMEOUT)
    return status(root)


def status(root: Path) -> ClusterState:
    """The recorded cluster and which of its servers answer right now."""
    home = root / CLUSTER_DIR
    if not _state_path(home).is_file():
        raise PreflightError(
            f"No local cluster in {home}: start it with `invoke cluster.up` (or "
            "`invoke sandbox.up --cluster`)."
        )
    state = _recorded(home)
    ports, pids = state["ports"], state["pids"]
    pki = cluster_pki.Pki(home / "pki")
    rows = []
    for name in COMPONENTS:
        pid = pids.get(name)
        alive = _owns(pid, home) and _healthy(name, ports, pki)
        log = str(home / "logs" / f"{name}.log")
        rows.append(ComponentStatus(name, pid if alive else None, _url(name, ports), log, alive))
    ready = 0
    if rows[1].alive:
        ready = kube.ready_nodes(home / "kubeconfig", CONTEXT)
    server = _url("kube-apiserver", ports)
    return ClusterState(home, server, home / "kubeconfig", CONTEXT, tuple(rows), ready)


def running(root: Path) -> ClusterState:
    """The cluster when every server answers and a node is Ready; PreflightError otherwise."""
    state = status(root)
    if not state.alive:
        down_ = [c.name for c in state.components if not c.alive] or ["no Ready node"]
        raise PreflightError(
            f"The local cluster in {state.home} is not running ({', '.join(down_)}): start "
            "it with `invoke cluster.up`."
        )
    return state


def down(root: Path, purge: bool = False) -> None:
    """Stop the servers (Flux first, the API server before etcd); ``purge`` deletes the data."""
    home = root / CLUSTER_DIR
    pids = _recorded(home)["pids"]
    for name in reversed(COMPONENTS):
        pid = pids.get(name)
        if pid:
            _stop(pid, home)
    if purge and home.exists():
        shutil.rmtree(home)
