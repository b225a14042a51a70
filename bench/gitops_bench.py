"""GitOps benchmark: Flux's memory, and the time from a pushed commit to every HelmRelease Ready.

    .venv/bin/python bench/gitops_bench.py [RUNS]

Runs its own registry, local cluster with Flux and GitOps server under a temporary root
(free ports on 127.0.0.1), publishes and signs RUNS versions (default 5) of both charts and
small images, releases each to dev by commit, and prints the time from the push to Ready of
each and their median, and the memory (RSS) of each Flux controller. The binaries must be
built (scripts/setup.sh --with cluster,helm,cosign,registry).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from releasekit.core import run  # noqa: E402
from releasekit.deploy import cluster, flux, git_http, gitops, testbed_servers  # noqa: E402
from releasekit.publish import oci, signing  # noqa: E402
from releasekit.publish.trust import Trust  # noqa: E402
from tests.integration.gitops.conftest import World  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(runs: int) -> None:
    run.runner.echo = False
    with tempfile.TemporaryDirectory(prefix="gitops-bench-") as tmp:
        root = Path(tmp)
        shutil.copy(ROOT / "release.toml", root / "release.toml")
        shutil.copytree(ROOT / "helm", root / "helm")
        for folder in ("packages", "docker", "terraform"):
            (root / folder).symlink_to(ROOT / folder)
        registry = testbed_servers.start_registry(root / "registry")
        try:
            start = time.monotonic()
            cluster.up(root)
            print(f"{'cluster and Flux up':<34} {time.monotonic() - start:6.1f} s")
            git_http.up(root)
            key_path, public, password = signing.ensure_key_pair(root / "keys")
            world = World(root, registry.host, signing.SigningKey(str(key_path), public, password),
                          Trust("bench", public, oci.Access(plain_http=True)))  # fmt: skip
            waits = []
            for index in range(runs):
                desired = world.publish(f"1.0.{index}")
                pushed: list[float] = []

                def say(line: str, pushed: list[float] = pushed) -> None:
                    if line.startswith("dev: pushed"):
                        pushed.append(time.monotonic())

                gitops.release(root, world.env("dev"), desired, world.trust, say, 300)
                waits.append(time.monotonic() - pushed[0])
                print(f"{f'1.0.{index}: pushed to Ready':<34} {waits[-1]:6.1f} s")
            print(f"{'median pushed to Ready':<34} {statistics.median(waits):6.1f} s")
            pids = json.loads((root / cluster.CLUSTER_DIR / "state.json").read_text())["pids"]
            for name in flux.CONTROLLERS:
                print(f"{f'{name} RSS':<34} {rss_mb(pids[name]):6.0f} MB")
        finally:
            git_http.stop_server(root)
            cluster.down(root, purge=True)
            testbed_servers.stop(registry)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
