"""``ironcage-agent-runtime``: serve the agent runtime over HTTP until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ironcage_agent_runtime import __version__
from ironcage_agent_runtime._log import JsonLogger
from ironcage_agent_runtime.redis_store import RedisBackend
from ironcage_agent_runtime.resp import RedisError
from ironcage_agent_runtime.server import AgentRuntimeServer
from ironcage_agent_runtime.store import Backend

TOKEN_ENV = "AGENT_RUNTIME_TOKEN"
REDIS_ENV = "REDIS_URL"
_PR_SET_DUMPABLE = 4


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"ironcage-agent-runtime: error: {name} must be an integer") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ironcage-agent-runtime",
        description=(
            "Run Python task steps in the ironcage sandbox behind an HTTP API. Needs "
            f"{TOKEN_ENV} (the bearer token clients present); {REDIS_ENV} shares the task "
            "queue and store between replicas."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument(
        "--port",
        type=int,
        default=_env_int("PORT", 8080),
        help="port to listen on (default: $PORT or 8080)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=_env_int("WORKERS", 2),
        help="worker threads running tasks (default: $WORKERS or 2; 0 with Redis: API only)",
    )
    parser.add_argument("--max-queue", type=int, default=1000, help="queued tasks before 503")
    parser.add_argument(
        "--max-connections",
        type=int,
        default=_env_int("MAX_CONNECTIONS", 256),
        help="connections handled at once; more get 503 (default: $MAX_CONNECTIONS or 256)",
    )
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=10.0,
        help="seconds a client has to send a whole request (default 10)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get(REDIS_ENV, ""),
        help=f"redis://host:port/db holding the tasks (default: ${REDIS_ENV}; none: in memory)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=10.0,
        help="seconds to let running tasks finish on SIGTERM (default 10)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser


def _error(message: str) -> int:
    print(f"ironcage-agent-runtime: error: {message}", file=sys.stderr)
    return 2


def _not_dumpable() -> None:
    """Keep snippets running as this uid out of /proc/<this pid> (environ, memory)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        return _error("--port must be 0-65535")
    if args.workers < 0 or args.max_queue < 1 or args.max_connections < 1:
        return _error("--workers must be >= 0, --max-queue and --max-connections >= 1")
    if args.workers == 0 and not args.redis_url:
        return _error(f"--workers 0 needs {REDIS_ENV}: nothing else would run the tasks")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        return _error(
            f"{TOKEN_ENV} is not set (or empty): refusing to start an open code-execution "
            f"endpoint. Set {TOKEN_ENV} to the bearer token clients must present."
        )
    _not_dumpable()
    log = JsonLogger(level=args.log_level)
    store: Backend | None = None
    try:
        if args.redis_url:
            store = RedisBackend(args.redis_url, max_queue=args.max_queue, logger=log)
            store.redis("PING")
        server = AgentRuntimeServer(
            args.host,
            args.port,
            token=token,
            workers=args.workers,
            max_queue=args.max_queue,
            store=store,
            max_connections=args.max_connections,
            read_timeout=args.read_timeout,
            logger=log,
        )
    except ValueError as exc:
        return _error(str(exc))
    except RedisError as exc:
        log.error("cannot reach redis", error=str(exc))
        return _error(f"{exc}; check {REDIS_ENV}")
    except OSError as exc:
        log.error("cannot listen", host=args.host, port=args.port, error=str(exc))
        return 1

    stopping = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log.info("shutting down", signal=signal.Signals(signum).name)
        # shutdown() waits for serve_forever() to return, so it must not run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    host, port = server.address
    log.info(
        "listening",
        host=host,
        port=port,
        workers=args.workers,
        version=__version__,
        store=str(store.redis.url) if isinstance(store, RedisBackend) else "memory",
        confinement=server.health()["confinement"],
    )
    try:
        server.serve_forever()
    finally:
        server.close(grace_seconds=args.shutdown_grace)
        log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
