"""Load benchmark of the agent runtime: many concurrent clients on 127.0.0.1 for a while.

    .venv/bin/python bench/load_bench.py [--clients 200] [--seconds 20] [--store redis|memory]

Starts a real `redis-server` on a free port (``--store redis``, the default: the production
design) and ``python -m ironcage_agent_runtime`` from packages/ on another, then runs
``--clients`` threads until ``--seconds`` have passed. Each client, in a loop, opens a new
connection per request: POST /tasks (a write), GET /tasks/{id} of what it wrote, and every
tenth round GET /tasks?limit=20. Afterwards every acknowledged write (202) is read back: a
task that cannot be found is a lost write. Connection errors (refused, reset, timeouts) and
HTTP statuses are counted; latency is per request (connect to last byte).

Prints a summary and writes it to bench/results/load-<clients>x<seconds>s.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [ROOT / "packages" / name / "src" for name in ("sandbox", "agent-runtime")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is missing: run scripts/setup.sh (apt redis-server)")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir",
         str(directory), "--appendonly", "yes", "--maxclients", "10000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def _start_runtime(token: str, redis_url: str | None) -> tuple[subprocess.Popen[bytes], int]:
    env = {
        **os.environ,
        "AGENT_RUNTIME_TOKEN": token,
        "PYTHONPATH": os.pathsep.join(str(p) for p in PACKAGES),
    }
    env.pop("REDIS_URL", None)
    port = _free_port()
    argv = [sys.executable, "-m", "ironcage_agent_runtime", "--host", "127.0.0.1", "--port",
            str(port), "--workers", "2", "--max-queue", "1000000", "--max-connections", "512",
            "--log-level", "warning"]  # fmt: skip
    if redis_url:
        argv += ["--redis-url", redis_url]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the runtime did not start")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.written: list[str] = []


def _request(
    port: int, method: str, path: str, token: str, body: bytes | None, stats: Stats
) -> tuple[int, bytes] | None:
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        with stats.lock:
            stats.errors[type(exc).__name__] += 1
        return None
    elapsed = time.perf_counter() - started
    with stats.lock:
        stats.latencies.append(elapsed)
        stats.statuses[response.status] += 1
    return response.status, data


def _client(port: int, token: str, deadline: float, stats: Stats, start: threading.Barrier) -> None:
    start.wait()
    body = json.dumps({"steps": ["pass"]}).encode()
    rounds = 0
    while time.monotonic() < deadline:
        created = _request(port, "POST", "/tasks", token, body, stats)
        if created and created[0] == 202:
            task_id = json.loads(created[1])["id"]
            with stats.lock:
                stats.written.append(task_id)
            _request(port, "GET", f"/tasks/{task_id}", token, None, stats)
        rounds += 1
        if rounds % 10 == 0:
            _request(port, "GET", "/tasks?limit=20", token, None, stats)


def _lost_writes(port: int, token: str, ids: list[str]) -> int:
    lost = 0
    for task_id in ids:
        stats = Stats()
        reply = _request(port, "GET", f"/tasks/{task_id}", token, None, stats)
        if reply is None or reply[0] != 200:
            lost += 1
    return lost


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long they run")
    parser.add_argument("--store", choices=["redis", "memory"], default="redis")
    args = parser.parse_args()
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        redis_proc, redis_url = _start_redis(Path(tmp)) if args.store == "redis" else (None, None)
        runtime, port = _start_runtime(token, redis_url)
        try:
            stats = Stats()
            barrier = threading.Barrier(args.clients)
            deadline = time.monotonic() + args.seconds
            clients = [
                threading.Thread(target=_client, args=(port, token, deadline, stats, barrier))
                for _ in range(args.clients)
            ]
            began = time.monotonic()
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join()
            took = time.monotonic() - began
            lost = _lost_writes(port, token, stats.written)
        finally:
            runtime.send_signal(signal.SIGTERM)
            runtime.wait(30)
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(10)
    requests = sum(stats.statuses.values()) + sum(stats.errors.values())
    summary = {
        "store": args.store,
        "clients": args.clients,
        "seconds": round(took, 1),
        "requests": requests,
        "requests_per_second": round(requests / took, 1),
        "connection_errors": sum(stats.errors.values()),
        "errors_by_kind": dict(stats.errors),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "writes_acknowledged": len(stats.written),
        "writes_lost": lost,
        "latency_ms": {
            "p50": round(_percentile(stats.latencies, 0.50) * 1000, 1),
            "p99": round(_percentile(stats.latencies, 0.99) * 1000, 1),
            "max": round(max(stats.latencies) * 1000, 1),
            "mean": round(statistics.fmean(stats.latencies) * 1000, 1),
        },
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
        ),
    }
    out = ROOT / "bench" / "results" / f"load-{args.store}-{args.clients}x{int(args.seconds)}s.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    print(f"written to {out.relative_to(ROOT)}")
    return 0 if summary["connection_errors"] == 0 and lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
