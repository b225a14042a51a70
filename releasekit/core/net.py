"""Loopback ports for the local servers: a free one, or whether a given one is free."""

from __future__ import annotations

import socket
from collections.abc import Collection

__all__ = ["free_port", "port_free"]


def free_port(taken: Collection[int] = ()) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now and that is not in ``taken``.

    The kernel may hand the same port out twice when nothing binds it in between, so a caller
    that picks several ports before starting their servers passes the ones it already chose."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port


def port_free(port: int) -> bool:
    """True when a server could listen on ``port`` (as servers do, with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
