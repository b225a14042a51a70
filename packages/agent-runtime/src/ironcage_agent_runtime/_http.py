"""A threading HTTP server that holds load: a deep listen backlog, a cap on concurrent
connections (the one over the cap gets an immediate 503), and a deadline to read a request
(a slow client cannot hold a thread)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["BoundedHTTPServer"]

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 39\r\n\r\n"
    b'{"error":"too many connections, retry"}'
)


class BoundedHTTPServer(ThreadingHTTPServer):
    """``max_connections`` handler threads at most; a request must arrive in ``read_timeout``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        max_connections: int = 256,
        read_timeout: float = 10.0,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        if read_timeout <= 0:
            raise ValueError("read_timeout must be > 0")
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._deadlines: dict[socket.socket, float] = {}
        self._deadline_lock = threading.Lock()
        self._closing = threading.Event()
        super().__init__(address, handler)
        self._watchdog = threading.Thread(target=self._watch, daemon=True)
        self._watchdog.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        self.arm(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.disarm(request)
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.disarm(request)
            self._slots.release()

    def arm(self, request: socket.socket) -> None:
        """Start the read deadline of a new connection."""
        with self._deadline_lock:
            self._deadlines[request] = time.monotonic() + self.read_timeout

    def disarm(self, request: socket.socket) -> None:
        """The request has been read: no deadline while it is handled."""
        with self._deadline_lock:
            self._deadlines.pop(request, None)

    def _watch(self) -> None:
        while not self._closing.wait(0.25):
            now = time.monotonic()
            with self._deadline_lock:
                late = [sock for sock, deadline in self._deadlines.items() if deadline <= now]
                for sock in late:
                    del self._deadlines[sock]
            for sock in late:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()
