"""Loopback ports: several chosen before any server binds them are all different."""

from __future__ import annotations

import socket
from pathlib import Path

from releasekit.core.net import free_port, port_free
from releasekit.deploy import cluster


def test_free_port_never_returns_one_already_taken() -> None:
    first = free_port()
    taken = {first}
    for _ in range(50):
        port = free_port(taken)
        assert port not in taken
        taken.add(port)


def test_a_bound_port_is_not_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_free(sock.getsockname()[1])


def test_the_cluster_gives_every_server_its_own_port(tmp_path: Path) -> None:
    shared = free_port()
    recorded = {"etcd": shared, "kube-apiserver": shared, "source-controller-storage": shared}
    ports = cluster._ports(recorded, {}, tmp_path)
    assert len(set(ports.values())) == len(ports)
    assert ports["etcd"] == shared
