"""Smoke-test every platform of an image once per digest.

Each platform's image is loaded into Docker Engine and started (another platform's under
QEMU, ``docker run --platform``), unless ``build/images/smoke.json`` records that its
manifest digest already passed the same smoke definition: then nothing is started.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from releasekit.build.artifacts import Progress
from releasekit.build.images import buildkit, records
from releasekit.build.images.build import ImagePlan, load_platform
from releasekit.build.images.smoke import SmokeResult, smoke_image
from releasekit.build.images.spec import ImageSpec, specs
from releasekit.core.errors import PreflightError
from releasekit.core.workspace import Workspace

if TYPE_CHECKING:
    from docker.client import DockerClient

__all__ = ["BESIDE", "Smoked", "smoke_platforms"]

BESIDE = {"control-panel-web": ("control-panel-api",)}
"""The images a smoke test starts beside the image tested (the web image proxies to the API)."""


@dataclass(frozen=True)
class Smoked:
    """One platform's smoke outcome: run now, or already passed by the same digest."""

    platform: str
    digest: str
    checks: tuple[str, ...]
    cached: bool


def _record(ws: Workspace, name: str, version: str) -> records.ImageRecord:
    found = records.read_record(ws.root, name, version)
    if found is None:
        raise PreflightError(
            f"No build record of the image {name} {version} in "
            f"{records.record_path(ws.root, name)}. Build it first: `invoke build.images`."
        )
    return found


def smoke_platforms(
    ws: Workspace,
    planned: ImagePlan,
    spec: ImageSpec,
    client: DockerClient,
    progress: Progress | None = None,
) -> list[Smoked]:
    """Smoke-test each platform of ``spec``'s recorded image that has not passed yet."""
    say = progress or (lambda _msg: None)
    record = _record(ws, spec.name, planned.version)
    beside = [s for s in specs(ws) if s.name in BESIDE.get(spec.name, ())]
    others = {s.name: _record(ws, s.name, planned.version) for s in beside}
    host = buildkit.host_platform()
    done: dict[str, Smoked] = {}
    pending: list[tuple[str, str, str, str, dict[str, str]]] = []
    for platform, manifest, _ in record.platforms:
        digests = tuple(others[s.name].manifest(platform) for s in beside)
        definition = records.smoke_definition(spec.name, digests)
        checks = records.passed(ws.root, manifest, definition)
        if checks is not None:
            say(f"image:{spec.name} {platform} {manifest[:19]} already passed its smoke test")
            done[platform] = Smoked(platform, manifest, tuple(checks), cached=True)
            continue
        for other in beside:
            load_platform(ws, planned, other, others[other.name], platform, client, say)
        ref = load_platform(ws, planned, spec, record, platform, client, say)
        # Run by id: another checkout at the same version may move the tag meanwhile.
        configs = {spec.name: record.config(platform)}
        configs.update({s.name: others[s.name].config(platform) for s in beside})
        ids = {image: config for image, config in configs.items() if config}
        pending.append((platform, manifest, definition, ref.rpartition(":")[2], ids))

    def run(platform: str, tag: str, ids: dict[str, str]) -> SmokeResult:
        say(f"image:{spec.name} smoke test ({platform})")
        return smoke_image(
            spec.name, tag, client=client, platform=None if platform == host else platform,
            ids=ids,
        )  # fmt: skip

    # The platforms' containers start side by side: a smoke test mostly waits for health.
    with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
        started = [(p, m, d, pool.submit(run, p, tag, ids)) for p, m, d, tag, ids in pending]
        for platform, manifest, definition, future in started:
            result = future.result()
            records.record_smoke(ws.root, spec.name, platform, manifest, definition, result.checks)
            say(f"image:{spec.name} {platform} started: {', '.join(result.checks)}")
            done[platform] = Smoked(platform, manifest, result.checks, cached=False)
    return [done[platform] for platform, _, _ in record.platforms]
