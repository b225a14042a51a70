"""A small Redis client (RESP2 over a socket) with a pool of connections.

The runtime needs a dozen commands; a client in the standard library keeps the image's
wheelhouse to the project's own wheels. ``redis://[user:password@]host[:port][/db]`` and
``rediss://`` (TLS) URLs are understood; the password never appears in errors.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["Redis", "RedisError", "RedisUrl"]

_CRLF = b"\r\n"


class RedisError(RuntimeError):
    """Redis answered with an error, or cannot be reached."""


@dataclass(frozen=True)
class RedisUrl:
    """Where Redis is: host, port, database, credentials and TLS."""

    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> RedisUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(
                "REDIS_URL must look like redis://[user:password@]host[:port][/db] "
                "(or rediss:// for TLS)"
            )
        path = parts.path.strip("/")
        try:
            port = parts.port or 6379
            db = int(path) if path else 0
        except ValueError:
            raise ValueError("REDIS_URL has an invalid port or database number") from None
        return cls(
            host=parts.hostname,
            port=port,
            db=db,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "rediss",
        )

    def __str__(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"


class _Connection:
    def __init__(self, url: RedisUrl, timeout: float) -> None:
        try:
            sock = socket.create_connection((url.host, url.port), timeout=timeout)
        except OSError as exc:
            raise RedisError(f"cannot connect to Redis at {url}: {exc}") from None
        if url.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=url.host)
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.timeout = timeout
        if url.password is not None:
            auth = [url.username, url.password] if url.username else [url.password]
            self.call("AUTH", *auth)
        if url.db:
            self.call("SELECT", url.db)

    def call(self, *args: object, timeout: float | None = None) -> Any:
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        self.sock.sendall(_encode(args))
        return self._read()

    def _read(self) -> Any:
        line = self.reader.readline()
        if not line.endswith(_CRLF):
            raise ConnectionError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.reader.read(size + 2)
            return data[:-2].decode()
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._read() for _ in range(count)]
        raise ConnectionError(f"unexpected reply from Redis: {line[:40]!r}")

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


def _encode(args: tuple[object, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Redis:
    """Commands over a pool of connections; a dropped connection is replaced once."""

    def __init__(self, url: str | RedisUrl, *, timeout: float = 5.0, max_idle: int = 32) -> None:
        self.url = url if isinstance(url, RedisUrl) else RedisUrl.parse(url)
        self.timeout = timeout
        self._idle: list[_Connection] = []
        self._max_idle = max_idle
        self._lock = threading.Lock()

    def __call__(self, *args: object, timeout: float | None = None) -> Any:
        """Run one command; ``timeout`` bounds a blocking command's wait on the socket."""
        return self._on_a_connection(lambda conn: conn.call(*args, timeout=timeout))

    def transaction(self, *commands: Sequence[object]) -> list[Any]:
        """Run ``commands`` between MULTI and EXEC on one connection; EXEC's replies."""

        def _run(conn: _Connection) -> Any:
            conn.call("MULTI")
            for command in commands:
                conn.call(*command)
            return conn.call("EXEC")

        return list(self._on_a_connection(_run))

    def ping(self) -> bool:
        try:
            return bool(self("PING") == "PONG")
        except RedisError:
            return False

    def _on_a_connection(self, action: Callable[[_Connection], Any]) -> Any:
        for attempt in (1, 2):
            conn = self._borrow()
            try:
                result = action(conn)
            except RedisError:
                self._give_back(conn)
                raise
            except (ConnectionError, TimeoutError, OSError) as exc:
                conn.close()
                if attempt == 2:
                    raise RedisError(f"Redis at {self.url} failed: {exc}") from None
                continue
            self._give_back(conn)
            return result
        raise AssertionError("unreachable")

    def _borrow(self) -> _Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Connection(self.url, self.timeout)

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._idle = self._idle, []
        for conn in conns:
            conn.close()
