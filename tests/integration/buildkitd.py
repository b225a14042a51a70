"""A buildkitd of a test's own: state and socket in a temporary folder, stopped at the end."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import require


@contextlib.contextmanager
def running_buildkitd(home: Path, registry: str = "") -> Iterator[tuple[str, str]]:
    """Start buildkitd under ``home`` (plain HTTP to ``registry``): (buildctl, address)."""
    daemon, buildctl = require("buildkitd"), require("buildctl")
    home.mkdir(parents=True, exist_ok=True)
    address = f"unix://{home}/buildkitd.sock"
    config = home / "buildkitd.toml"
    text = f'root = "{home}/state"\n[worker.oci]\n  enabled = true\n'
    text += "[worker.containerd]\n  enabled = false\n"
    if registry:
        text += f'[registry."{registry}"]\n  http = true\n  insecure = true\n'
    config.write_text(text)
    log_path = home / "buildkitd.log"
    argv = [daemon, "--config", str(config), "--addr", address, "--root", f"{home}/state"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            probe = [buildctl, "--addr", address, "debug", "workers"]
            for _ in range(150):
                if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                    break
                assert process.poll() is None, log_path.read_text()
                time.sleep(0.2)
            yield buildctl, address
        finally:
            process.terminate()
            process.wait(timeout=30)
