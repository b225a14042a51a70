"""``ironcage-agent-runtime``: serve the agent runtime over HTTP until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ironcage_agent_runtime import __version__
from ironcage_agent_runtime._log import JsonLogger
from ironcage_agent_runtime.server import AgentRuntimeServer


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
        description="Run Python task steps in the ironcage sandbox behind an HTTP API.",
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
        help="worker threads running tasks (default: $WORKERS or 2)",
    )
    parser.add_argument("--max-queue", type=int, default=1000, help="queued tasks before 503")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print("ironcage-agent-runtime: error: --port must be 0-65535", file=sys.stderr)
        return 2
    if args.workers < 1 or args.max_queue < 1:
        print(
            "ironcage-agent-runtime: error: --workers and --max-queue must be >= 1", file=sys.stderr
        )
        return 2
    log = JsonLogger(level=args.log_level)
    try:
        server = AgentRuntimeServer(
            args.host, args.port, workers=args.workers, max_queue=args.max_queue, logger=log
        )
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
    log.info("listening", host=host, port=port, workers=args.workers, version=__version__)
    try:
        server.serve_forever()
    finally:
        server.close(grace_seconds=args.shutdown_grace)
        log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
