"""Build benchmark: cold, no-op and one-file-change builds, and multi- vs single-stage sizes.

    .venv/bin/python bench/build_bench.py

Works on a temporary copy of the repository (its own git repository) at a version far above
the real one, so the working tree, its build cache and its image tags are left alone; the
tags made here are removed at the end and a moved `latest` is put back. Steps:

1. cold: the Python artifacts, then each image
   with the engine's layer cache bypassed;
2. no-op: everything again, unchanged (the input-hash cache must skip it all);
3. one file changed in packages/sandbox: what depends on it rebuilds, nothing else;
4. size: each image against a single-stage build of the same service (Dockerfiles inline
   below: the wheelhouse installed in place, pip and the wheels left in the image).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import docker.errors

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from releasekit.build import images  # noqa: E402
from releasekit.build import python as python_dist  # noqa: E402
from releasekit.build.images.spec import ImageSpec  # noqa: E402
from releasekit.core import manifest, version, workspace  # noqa: E402

T = TypeVar("T")

SINGLE_PYTHON = """\
ARG PYTHON_BASE=python:3.11-slim-bookworm
FROM ${{PYTHON_BASE}}
ARG VERSION
COPY build/wheelhouse/{image}/ /wheels/
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-index --find-links /wheels "{dist}==${{VERSION}}"
RUN groupadd --system --gid 10001 ironcage \\
 && useradd --system --uid 10001 --gid 10001 --no-create-home ironcage
ENV PATH=/opt/venv/bin:$PATH
USER 10001:10001
CMD ["{script}"]
"""
SCRIPTS = {
    "agent-runtime": ("ironcage-agent-runtime", "ironcage-agent-runtime"),
    "control-panel-api": ("ironcage-control-panel", "ironcage-control-panel"),
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout


def copy_repo(dest: Path) -> Path:
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for rel in filter(None, listed.split("\0")):
        source = ROOT / rel
        if source.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    return dest


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def mb(size: int) -> str:
    return f"{size / 1e6:.1f}"


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> int:
    client = images.connect()
    current = next(iter(version.check(workspace.load(manifest.load(ROOT))).values()))
    bench_version = f"{version.parse(current).major + 70}.0.0"
    latest: dict[str, str] = {}
    for spec in images.specs(workspace.load(manifest.load(ROOT))):
        with contextlib.suppress(docker.errors.ImageNotFound):
            latest[spec.name] = client.images.get(f"ironcage/{spec.name}:latest").id
    made: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="build-bench-") as tmp:
        root = copy_repo(Path(tmp))
        ws = workspace.load(manifest.load(root))
        version.apply(ws, version.plan_bump(ws, to=bench_version))
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "-c", "user.email=b@example.com", "-c", "user.name=B", "commit", "-qm", "b")
        ws = workspace.load(manifest.load(root))
        specs = images.specs(ws)
        steps: list[list[str]] = []
        try:
            # 1. cold
            outcomes, secs = timed(lambda: python_dist.build_all(ws, bench_version))
            steps.append(["cold", "python artifacts", f"{secs:.1f}", f"{len(outcomes)} built"])
            cold: dict[str, float] = {}
            results: dict[str, images.ImageResult] = {}
            for spec in specs:
                built, secs = timed(
                    lambda s=spec: images.build_images(
                        ws, bench_version, images=[s.name], nocache=True, client=client
                    )
                )
                results[spec.name] = built[0]
                made.update(built[0].tags)
                cold[spec.name] = secs
                steps.append(["cold", f"image {spec.name}", f"{secs:.1f}", built[0].status])
            total_cold = sum(cold.values())
            steps.append(["cold", "all images", f"{total_cold:.1f}", ""])

            # 2. no-op
            outcomes, secs = timed(lambda: python_dist.build_all(ws, bench_version))
            statuses = sorted({o.status for o in outcomes})
            steps.append(["no-op", "python artifacts", f"{secs:.2f}", ", ".join(statuses)])
            again, noop = timed(lambda: images.build_images(ws, bench_version, client=client))
            rebuilt = [r.name for r in again if r.status == "built"]
            steps.append(
                [
                    "no-op",
                    "all images",
                    f"{noop:.2f}",
                    f"rebuilt: {', '.join(rebuilt) or 'none'}; "
                    f"{total_cold / max(noop, 1e-3):.0f}x faster than cold",
                ]
            )

            # 3. one file changed in packages/sandbox
            changed = root / "packages" / "sandbox" / "src" / "ironcage_sandbox" / "__init__.py"
            changed.write_text(changed.read_text() + "\n# bench: one changed line\n")
            outcomes, secs = timed(lambda: python_dist.build_all(ws, bench_version))
            rebuilt_py = sorted(o.key for o in outcomes if o.status == "built")
            steps.append(["one change", "python artifacts", f"{secs:.1f}", ", ".join(rebuilt_py)])
            after, change = timed(lambda: images.build_images(ws, bench_version, client=client))
            made.update(t for r in after for t in r.tags)
            rebuilt = [r.name for r in after if r.status == "built"]
            steps.append(
                [
                    "one change",
                    "all images",
                    f"{change:.1f}",
                    f"rebuilt: {', '.join(rebuilt) or 'none'}",
                ]
            )
            table("Build times (seconds)", ["step", "what", "seconds", "result"], steps)

            # 4. multi-stage vs single-stage
            sizes: list[list[str]] = []
            bases = images.resolve_base_images(client)
            for spec in specs:
                multi = client.images.get(results[spec.name].image_id).attrs["Size"]
                base_size = client.images.get(bases[spec.base_arg].id).attrs["Size"]
                if spec.name not in SCRIPTS:
                    sizes.append(
                        [
                            spec.name,
                            mb(multi),
                            "one stage by design",
                            "1.00",
                            mb(multi - base_size),
                            "-",
                        ]
                    )
                    continue
                dist, script = SCRIPTS[spec.name]
                dockerfile = root / "build" / "bench" / f"{spec.name}.single.Dockerfile"
                dockerfile.parent.mkdir(parents=True, exist_ok=True)
                dockerfile.write_text(
                    SINGLE_PYTHON.format(image=spec.name, dist=dist, script=script)
                )
                images.prepare_context(ws, spec, bench_version, str(int(time.time())))
                single_spec = ImageSpec(
                    name=f"{spec.name}-single",
                    package=spec.package,
                    dockerfile=str(dockerfile.relative_to(root)),
                )
                tag = f"ironcage-bench/{spec.name}-single:{bench_version}"
                image_id = images.build_one(
                    client,
                    root,
                    single_spec,
                    tag,
                    {"VERSION": bench_version, "PYTHON_BASE": bases["PYTHON_BASE"].ref},
                )
                made.add(tag)
                single = client.images.get(image_id).attrs["Size"]
                sizes.append(
                    [
                        spec.name,
                        mb(multi),
                        mb(single),
                        f"{multi / single:.2f}",
                        mb(multi - base_size),
                        mb(single - base_size),
                    ]
                )
            table(
                "Image sizes (MB): multi-stage (shipped) vs single-stage",
                ["image", "multi", "single", "multi/single", "added (multi)", "added (single)"],
                sizes,
            )
        finally:
            for ref in sorted(made):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(ref, noprune=False)
            for name, image_id in latest.items():
                with contextlib.suppress(docker.errors.APIError):
                    client.images.get(image_id).tag(f"ironcage/{name}", "latest")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
