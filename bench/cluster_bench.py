"""Local cluster benchmark: start (cold, warm, from stopped), memory, deploy, redeploy, stop.

    .venv/bin/python bench/cluster_bench.py

Runs a cluster of its own under a temporary root (free ports on 127.0.0.1), deploys both
charts of helm/ at a made-up version with made-up digests (kwok runs no container), and
deletes it all at the end. The binaries must be built (scripts/setup.sh).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from releasekit.core import run  # noqa: E402
from releasekit.deploy import cluster  # noqa: E402
from releasekit.deploy import helm as helm_deploy  # noqa: E402
from releasekit.deploy.kube import Kube  # noqa: E402
from releasekit.deploy.kube_env import KubeEnv  # noqa: E402

T = TypeVar("T")
IMAGES = ("agent-runtime", "control-panel-api", "control-panel-web")


def timed(label: str, action: Callable[[], T]) -> T:
    start = time.monotonic()
    result = action()
    print(f"{label:<34} {time.monotonic() - start:6.1f} s")
    return result


def rss_mb(home: Path) -> float:
    pids = json.loads((home / "state.json").read_text())["pids"].values()
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def main() -> None:
    run.runner.echo = False
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "helm", root / "helm")
        images = {
            name: {
                "repository": f"127.0.0.1:5999/ironcage/{name}",
                "digest": "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
            }
            for name in IMAGES
        }
        try:
            timed("cluster.up (cold, certificates)", lambda: cluster.up(root))
            timed("cluster.up (running)", lambda: cluster.up(root))
            home = root / cluster.CLUSTER_DIR
            print(f"{'memory of the control plane (RSS)':<34} {rss_mb(home):6.0f} MB")
            kube = Kube(cluster.kubeconfig_path(root), cluster.CONTEXT)
            env = KubeEnv("bench", "dev", "bench", kube, local_root=root)
            charts = helm_deploy.plan(root, env)
            chart_version = charts[0].version
            path = root / "dist" / chart_version / "images.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(images))
            charts = helm_deploy.plan(root, env)
            timed(
                "deploy both charts (install, wait)", lambda: helm_deploy.deploy(root, env, charts)
            )
            timed("deploy again (unchanged)", lambda: helm_deploy.deploy(root, env, charts))
            print(f"{'memory with both charts deployed':<34} {rss_mb(home):6.0f} MB")
            timed("cluster.down", lambda: cluster.down(root))
            timed("cluster.up (from stopped)", lambda: cluster.up(root))
        finally:
            timed("cluster.down --purge", lambda: cluster.down(root, purge=True))


if __name__ == "__main__":
    main()
