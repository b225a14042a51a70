"""Side-by-side benchmarks: each comparison measured in one run, printed as a ratio.

    .venv/bin/python bench/compare.py [--runs 5] [--docker-runs 1] [--only python,jobs,...]
    nox -s bench

Every measurement works in throwaway copies of the repository (each its own git repository,
at a version far above the real one), so the working tree, its build cache and its image
tags are left alone; image tags made here are removed at the end and moved ones put back.

Each comparison is baseline -> subject (ratio = subject / baseline), goal in brackets:

- python: `uv build` of each Python package -> `invoke build.python --force`, smoke tests
  and SBOMs included (<= 1.5); and the same against the engine call alone, without invoke's
  start-up (informational);
- jobs: cold `invoke build --jobs 1` -> cold `invoke build` with the default jobs (<= 0.6),
  and that cold build -> the no-op `invoke build` right after it;
- change: an image's cold build (Docker layer cache bypassed) -> the same image after a
  source-only change in its package;
- size: a single-stage build's bytes over its base -> the shipped multi-stage image's (<= 1);
- cache, shards, noop, arch: the shared cache, a split build, the no-op build and
  multi-arch (``scale_bench.py``, which says what each measures).

Baseline and subject alternate (b s, s b, ...) and each side's median is kept. A cold build
is one in a fresh copy at a version of its own: the engine's caches are empty, Docker keeps
only the layers that do not depend on the version. Results go to ``build/bench/results.json``
and ``build/bench/results.md`` (printed too). Comparisons that need Docker report why they
could not run when the engine is not reachable; the jobs comparison reports "not supported"
when `invoke build` has no `--jobs` flag.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from build_bench import SCRIPTS, SINGLE_PYTHON, copy_repo, git  # noqa: E402

from releasekit.build import python as python_dist  # noqa: E402
from releasekit.core import manifest, version, workspace  # noqa: E402
from releasekit.core.run import require_tool, runner  # noqa: E402

OUT = ROOT / "build" / "bench"
COMPARISONS = ("python", "jobs", "change", "size")
SCALE = ("cache", "shards", "noop", "arch")
CHANGED_IMAGE = "agent-runtime"
BIN = Path(sys.executable).parent


@dataclass
class Side:
    """One side of a comparison: what was measured and its median."""

    label: str
    value: float | None = None
    unit: str = "s"
    samples: list[float] = field(default_factory=list)

    def shown(self) -> str:
        if self.value is None:
            return self.label
        if self.unit == "B" and abs(self.value) >= 1e6:
            return f"{self.label}: {self.value / 1e6:.1f} MB"
        if self.unit == "B":
            return f"{self.label}: {self.value / 1e3:.1f} kB"
        return f"{self.label}: {self.value:.2f} s"


@dataclass
class Row:
    """One comparison: ratio = subject / baseline, and whether it meets ``goal`` (at most)."""

    comparison: str
    baseline: Side
    subject: Side
    goal: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline.value and self.subject.value is not None:
            return self.subject.value / self.baseline.value
        return None

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        return self.ratio <= self.goal

    def data(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


# Running things


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(
    baseline: Callable[[], object], subject: Callable[[], object], runs: int
) -> tuple[list[float], list[float]]:
    """``runs`` timings of each, alternating which goes first."""
    base: list[float] = []
    subj: list[float] = []
    for i in range(runs):
        if i % 2 == 0:
            base.append(timed(baseline))
            subj.append(timed(subject))
        else:
            subj.append(timed(subject))
            base.append(timed(baseline))
    return base, subj


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def sh(argv: list[str | Path], cwd: Path) -> str:
    """Run ``argv`` in ``cwd``; its output, or RuntimeError with its tail."""
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(map(str, argv))}` exited {proc.returncode}:\n{tail}")
    return proc.stdout


class Copies:
    """Throwaway copies of the repository, each at its own bench version."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        ws = workspace.load(manifest.load(ROOT))
        self.major = version.parse(next(iter(version.check(ws).values()))).major + 70
        self.count = 0
        self.built: tuple[Path, str] | None = None  # a copy where `invoke build` has run
        self.versions: set[str] = set()  # every version a copy was set to

    def fresh(self) -> tuple[Path, str]:
        self.count += 1
        bench_version = f"{self.major + self.count}.0.0"
        self.versions.add(bench_version)
        root = copy_repo(self.tmp / f"ws{self.count}")
        ws = workspace.load(manifest.load(root))
        version.apply(ws, version.plan_bump(ws, to=bench_version))
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "-c", "user.email=b@example.com", "-c", "user.name=B", "commit", "-qm", "b")
        return root, bench_version


def invoke(root: Path, *args: str) -> str:
    return sh([BIN / "invoke", *args], root)


# The comparisons


def python_rows(copies: Copies, runs: int) -> list[Row]:
    """`invoke build.python --force` and the engine call against `uv build` of each package."""
    root, bench_version = copies.fresh()
    ws = workspace.load(manifest.load(root))
    uv = require_tool("uv", "Install it into the toolkit's venv (scripts/setup.sh).")
    out = root.parent / f"{root.name}-uv"
    folders = [pkg.dir for pkg in python_dist.python_packages(ws)]

    def uv_build() -> None:
        shutil.rmtree(out, ignore_errors=True)
        for folder in folders:
            sh([uv, "build", "--quiet", "--out-dir", out, folder], root)

    def command() -> None:
        invoke(root, "build.python", "--force")

    def engine() -> None:
        python_dist.build_all(ws, bench_version, force=True)

    runner.echo = False

    uv_build()  # warm-up: uv's cached build environment, the interpreters' caches
    command()
    base, subj = alternate(uv_build, command, runs)
    base2, engine_runs = alternate(uv_build, engine, runs)
    names = ", ".join(f.name for f in folders)
    return [
        Row(
            "Python artifacts: `invoke build.python --force` vs `uv build`",
            Side(f"uv build ({names})", median(base), samples=base),
            Side("invoke build.python --force", median(subj), samples=subj),
            goal=1.5,
            note="smoke tests (uv venvs) and SBOMs included on the subject's side",
        ),
        Row(
            "Python artifacts, engine only (no invoke start-up)",
            Side("uv build", median(base2), samples=base2),
            Side("python.build_all(force=True)", median(engine_runs), samples=engine_runs),
            note="informational: the part of the command that is the build itself",
        ),
    ]


def _docker() -> Any | None:
    try:
        from releasekit.build import images

        return images.connect()
    except Exception:
        return None


def jobs_rows(copies: Copies, runs: int) -> list[Row]:
    """Cold `invoke build --jobs 1` against the default jobs; the no-op build against cold."""
    jobs1 = Side("cold invoke build --jobs 1")
    default = Side("cold invoke build (default jobs)")
    noop = Side("no-op invoke build")
    help_text = invoke(ROOT, "build", "--help")
    rows = [
        Row("Cold build: default jobs vs --jobs 1", jobs1, default, goal=0.6),
        Row("No-op build vs cold build", Side(default.label), noop),
    ]
    if "--jobs" not in help_text:
        rows[0].note = "not supported: `invoke build` has no --jobs flag on this tree"
        jobs1.label += " (not supported)"
    for i in range(runs):
        order = ["default", "jobs1"] if i % 2 else ["jobs1", "default"]
        if rows[0].note:
            order = ["default"]
        for which in order:
            root, bench_version = copies.fresh()
            args = ["build", "--jobs", "1"] if which == "jobs1" else ["build"]
            seconds = timed(lambda r=root, a=args: invoke(r, *a))
            (jobs1 if which == "jobs1" else default).samples.append(seconds)
            if which == "default":
                copies.built = (root, bench_version)
    for side in (jobs1, default):
        side.value = median(side.samples) if side.samples else None
    assert copies.built is not None
    built_root = copies.built[0]
    noop.samples = [timed(lambda: invoke(built_root, "build")) for _ in range(runs)]
    noop.value = median(noop.samples)
    rows[1].baseline = Side(default.label, default.value, samples=default.samples)
    rows[1].note = "every image is still started and health-checked on a no-op build"
    return rows


def change_row(copies: Copies, runs: int, client: Any) -> Row:
    """One image rebuilt after a source-only change in its package, against its cold build."""
    from releasekit.build import images

    root, bench_version = copies.fresh()
    ws = workspace.load(manifest.load(root))
    (spec,) = images.specs(ws, images=[CHANGED_IMAGE])
    pkg = ws.get(spec.package)
    source = pkg.dir / "src" / pkg.spec.module / "__init__.py"

    def cold() -> None:
        images.build_images(ws, bench_version, images=[spec.name], nocache=True, client=client)

    def changed() -> None:
        source.write_text(source.read_text() + f"\n# bench: change {time.time_ns()}\n")
        (result,) = images.build_images(ws, bench_version, images=[spec.name], client=client)
        if result.status != "built":
            raise RuntimeError(f"{spec.name} was not rebuilt after a change in {source}")

    cold()  # the first build makes the engine's records; the alternation starts from there
    base, subj = alternate(cold, changed, runs)
    return Row(
        f"Source-only change in {spec.package} vs its image's cold build",
        Side(f"cold build of {spec.name} (no layer cache)", median(base), samples=base),
        Side(
            f"{spec.name} after a change in {source.relative_to(root)}", median(subj), samples=subj
        ),
        note="both include the image's wheelhouse; the change reuses the layers before it",
    )


def size_rows(copies: Copies, client: Any) -> list[Row]:
    """Each image's bytes over its base: the shipped multi-stage build vs a single stage."""
    from releasekit.build import artifacts, images
    from releasekit.build.images.spec import ImageSpec

    root, bench_version = copies.built or copies.fresh()
    ws = workspace.load(manifest.load(root))
    results = {r.name: r for r in images.build_images(ws, bench_version, client=client)}
    bases = images.resolve_base_images(client)
    epoch = artifacts.source_date_epoch(root)
    rows = []
    for spec in images.specs(ws):
        multi = float(client.images.get(results[spec.name].image_id).attrs["Size"])
        base = float(client.images.get(bases[spec.base_arg].id).attrs["Size"])
        subject = Side("multi-stage, added over its base", multi - base, unit="B")
        title = f"Image {spec.name}: bytes added over its base"
        if spec.name not in SCRIPTS:
            rows.append(
                Row(
                    title,
                    Side("single stage (the shipped build)", multi - base, unit="B"),
                    subject,
                    goal=1.0,
                    note="one stage by design (static files on nginx)",
                )
            )
            continue
        dist, script = SCRIPTS[spec.name]
        dockerfile = root / "build" / "bench" / f"{spec.name}.single.Dockerfile"
        dockerfile.parent.mkdir(parents=True, exist_ok=True)
        dockerfile.write_text(SINGLE_PYTHON.format(image=spec.name, dist=dist, script=script))
        images.prepare_context(ws, spec, bench_version, epoch)
        single_spec = ImageSpec(
            name=f"{spec.name}-single",
            package=spec.package,
            dockerfile=str(dockerfile.relative_to(root)),
        )
        tag = f"ironcage-bench/{spec.name}-single:{bench_version}"
        args = {"VERSION": bench_version, "PYTHON_BASE": bases["PYTHON_BASE"].ref}
        image_id = images.build_one(client, root, single_spec, tag, args)
        single = float(client.images.get(image_id).attrs["Size"])
        rows.append(
            Row(
                title,
                Side("single stage, added over its base", single - base, unit="B"),
                subject,
                goal=1.0,
            )
        )
    return rows


@contextlib.contextmanager
def restored_tags(client: Any, copies: Copies) -> Iterator[None]:
    """Remove the image tags the bench made, and put back the ones it moved.

    Only tags that now name an image of a bench version (its ``image.version`` label) are
    touched: images that other builds make meanwhile keep their tags.
    """

    def tags() -> dict[str, str]:
        found: dict[str, str] = {}
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith(("ironcage/", "ironcage-bench/")):
                    found[tag] = image.id
        return found

    def from_bench(image_id: str) -> bool:
        labels = client.images.get(image_id).labels or {}
        return labels.get("org.opencontainers.image.version") in copies.versions

    before = tags()
    try:
        yield
    finally:
        import docker.errors

        for tag, image_id in tags().items():
            with contextlib.suppress(docker.errors.APIError):
                ours = tag.startswith("ironcage-bench/") or from_bench(image_id)
                if before.get(tag) == image_id or not ours:
                    continue
                if tag not in before:
                    client.images.remove(tag, noprune=False)
                else:
                    repository, _, name = tag.rpartition(":")
                    client.images.get(before[tag]).tag(repository, name)


def guarded(name: str, fn: Callable[[], list[Row]]) -> list[Row]:
    """The rows of ``fn``, or one row saying why the comparison failed."""
    try:
        return fn()
    except Exception as exc:
        print(f"bench: {name} failed: {exc}", file=sys.stderr)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [Row(name, Side("-"), Side("-"), note=f"failed: {first}")]


# Report


def _cell(row: Row) -> list[str]:
    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
    goal = "-" if row.goal is None else f"<= {row.goal:g}"
    met = {True: "yes", False: "no", None: "-"}[row.met]
    return [row.comparison, row.baseline.shown(), row.subject.shown(), ratio, goal, met]


def markdown(rows: list[Row]) -> str:
    header = ["comparison", "baseline", "subject", "ratio", "goal", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(row)) + " |" for row in rows]
    notes = [f"- {row.comparison}: {row.note}" for row in rows if row.note]
    return "\n".join([*lines, "", *notes]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each cheap side (median)")
    parser.add_argument("--docker-runs", type=int, default=1, help="runs of each Docker side")
    parser.add_argument(
        "--only",
        default=",".join((*COMPARISONS, *SCALE)),
        help=f"comma-separated: {', '.join((*COMPARISONS, *SCALE))}",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        copies = Copies(Path(tmp))
        if "python" in only:
            rows += guarded("python", lambda: python_rows(copies, args.runs))
        docker_ones = [c for c in COMPARISONS[1:] if c in only]
        client = _docker() if docker_ones else None
        if docker_ones and client is None:
            rows.append(
                Row(
                    f"Docker comparisons ({', '.join(docker_ones)})",
                    Side("-"),
                    Side("-"),
                    note="not run: the Docker engine is not reachable (scripts/setup.sh)",
                )
            )
        elif client is not None:
            with restored_tags(client, copies):
                if "jobs" in only:
                    rows += guarded("jobs", lambda: jobs_rows(copies, args.docker_runs))
                if "change" in only:
                    rows += guarded(
                        "change", lambda: [change_row(copies, args.docker_runs, client)]
                    )
                if "size" in only:
                    rows += guarded("size", lambda: size_rows(copies, client))
        if only & set(SCALE):
            from scale_bench import rows as scale_rows

            scale = Path(tmp) / "scale"
            scale.mkdir()
            rows += guarded("scale", lambda: scale_rows(scale, args.runs, False, only))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(
        json.dumps([row.data() for row in rows], indent=2) + "\n", encoding="utf-8"
    )
    table = markdown(rows)
    (OUT / "results.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
