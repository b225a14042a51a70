"""`invoke release`: the whole release, end to end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from releasekit.commands._common import (
    LetterFlagTask,
    console,
    emit_json,
    err_console,
    load_workspace,
    reported,
)

if TYPE_CHECKING:
    from releasekit.release import pipeline as release

__all__ = ["ns"]


@task(
    name="run",
    klass=LetterFlagTask,
    default=True,
    iterable=["merge"],
    help={
        "part": "Bump this part: major, minor, patch, prerelease or release "
        "(default: from conventional commits).",
        "to": "Release this exact version instead (must be higher than the last release).",
        "pre_token": "Pre-release label for --part prerelease (default rc).",
        "dry_run": "Print the plan (artifacts, tags, destinations, commands); change nothing.",
        "yes": "Do not ask for confirmation before acting.",
        "resume": "Continue the unfinished release recorded in build/release/state.json "
        "(its target, environment and version, unless given).",
        "abort": "Undo the unfinished release while nothing of it is published: the release "
        "commit, the local tag, dist/<version>/ and the state file.",
        "json": "Print the result (version, report, step timings) as JSON on stdout.",
        "env": "Deploy to this environment after publishing (default pilot, or the resumed "
        "release's; `none` to skip).",
        "target": "Where artifacts go: `sandbox` (default, started when needed; or the resumed "
        "release's) or a [targets.NAME] of release.toml.",
        "jobs": "Build this many artifacts at once (default 0: the number of cores).",
        "verbose": "Stream every build log to the console.",
        "package": "Under policy independent: release only these packages, NAME[,NAME] "
        "(their dependents follow).",
        "stop_after": "Stop after this step (preflight, version, prepare, build or verify): "
        "no credential is read; `--resume` (after `release.pack`/`release.unpack` on another "
        "machine) publishes it.",
        "summary": "Append the release's report as Markdown to this file (in GitHub Actions: "
        "$GITHUB_STEP_SUMMARY); the page is dist/<version>/report.html.",
        "no_remote_cache": "Build with the local cache only: neither fetch from nor push to "
        "the shared cache in the target's registry.",
        "merge": "At the release commit, adopt this shard folder (`invoke build --shard I/N`; "
        "repeat the flag, or name one folder holding them all) instead of building, then "
        "verify, tag, publish, sign and deploy.",
    },
)
def release_task(
    c: Context,
    part: str | None = None,
    to: str | None = None,
    pre_token: str = "rc",
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    abort: bool = False,
    env: str | None = None,
    target: str | None = None,
    json: bool = False,
    jobs: int = 0,
    verbose: bool = False,
    stop_after: str = "",
    summary: str = "",
    package: str = "",
    no_remote_cache: bool = False,
    merge: list[str] | None = None,
) -> None:
    """Release: version, build, tag, publish, deploy, health, report; or --resume, --abort."""
    from rich.markup import escape
    from rich.table import Table

    from releasekit.release import pipeline as release

    with reported():
        ws = load_workspace()
        if abort:
            _abort(ws, resume or dry_run or bool(part or to))
            return
        opts = release.Options(
            part=part or None,
            to=to or None,
            pre_token=pre_token,
            dry_run=dry_run,
            resume=resume,
            env=env or "pilot",
            target=target or "sandbox",
            jobs=jobs or None,
            verbose=verbose,
            given=frozenset(k for k, v in (("env", env), ("target", target)) if v),
            stop_after=stop_after or None,
            packages=tuple(n.strip() for n in package.split(",") if n.strip()),
            remote_cache=not no_remote_cache,
            merge=tuple(merge or ()),
        )
        timings: list[tuple[str, str, float]] = []
        out = err_console if json else console

        def on_start(step: release.Step, skipped: bool) -> None:
            mark = "[dim]done before, skipped[/]" if skipped else "..."
            out.print(f"[bold]{step.name}[/]: {step.summary} {mark}", soft_wrap=True)

        def on_end(step: release.Step, outputs: dict[str, Any], seconds: float) -> None:
            timings.append((step.name, str(outputs.get("summary", "")), seconds))

        result = release.run(
            ws,
            opts,
            confirm=None if yes else _confirm,
            on_start=on_start,
            on_end=on_end,
            say=lambda line: out.print(escape(line), soft_wrap=True),
            progress=lambda line: err_console.print(f"  [dim]{escape(line)}[/]", soft_wrap=True),
        )
        if summary and result.get("report"):
            _append_summary(ws.root, summary)
        if json:
            steps = [{"step": n, "result": r, "seconds": round(t, 3)} for n, r, t in timings]
            emit_json({**result, "steps": steps})
            return
        if dry_run or result.get("nothing"):
            return
        table = Table(title=f"Release {result.get('version', '')}")
        for column in ("step", "result", "seconds"):
            table.add_column(column)
        for name, summary, seconds in timings:
            table.add_row(name, escape(summary), f"{seconds:.1f}")
        console.print(table)
        if result.get("report"):
            console.print(f"report: {result['report']}")


def _append_summary(root: Any, dest: str) -> None:
    from pathlib import Path

    from releasekit.core.errors import ReleaseError
    from releasekit.release.steps.report import summary_path

    source = summary_path(root)
    if not source.is_file():
        raise ReleaseError(
            f"{source} does not exist, so --summary {dest} has nothing to append: the release "
            "finished before this toolkit wrote summaries. Run the release again to write it."
        )
    with Path(dest).open("a", encoding="utf-8") as out:
        out.write(source.read_text(encoding="utf-8"))


def _abort(ws: Any, other_flags: bool) -> None:
    from releasekit.core.errors import ReleaseError
    from releasekit.release.abort import abort

    if other_flags:
        raise ReleaseError(
            "--abort undoes the unfinished release and takes no --resume, --dry-run, --part or "
            "--to: run `invoke release --abort` alone."
        )
    abort(ws, say=lambda line: console.print(line, soft_wrap=True, markup=False))
    console.print("aborted: nothing of the release is left; release again with `invoke release`")


def _confirm(question: str) -> bool:
    try:
        answer = console.input(f"{question} [y/N] ")
    except EOFError:
        err_console.print("no answer on standard input: pass --yes to release without asking")
        return False
    return answer.strip().lower() in {"y", "yes"}


@task(
    help={
        "tag": "The release tag (default: the v<version> of the current version sites; under "
        "policy independent, every package tag of the release commit at HEAD), e.g. "
        "sandbox-v1.3.0: its own GitHub release gets its package's files (wheel, sdist, "
        "binary, site, SBOMs) and the release's records (SHA256SUMS, release.json, "
        "images.json, provenance, key, notes).",
        "dry_run": "List the assets and where they would go; upload nothing.",
    }
)
def assets(c: Context, tag: str | None = None, dry_run: bool = False) -> None:
    """Attach binary, SHA256SUMS, SBOMs, site and notes to the GitHub release of the tag."""
    from releasekit.core import version
    from releasekit.publish import assets as assets_mod
    from releasekit.release.verify import release_tags, tag_folder, tag_package

    with reported():
        ws = load_workspace()
        if tag:
            names = [tag]
        elif ws.manifest.policy == "independent":
            names = release_tags(ws)
        else:
            names = [f"v{next(iter(version.check(ws).values()))}"]
        for name in names:
            folder = tag_folder(ws, name)
            owned = tag_package(ws, name)
            package = owned[0] if owned else None
            notes_file = folder / "RELEASE_NOTES.md"
            if dry_run:
                for asset in assets_mod.collect(folder, package):
                    console.print(f"{asset.name}  sha256:{asset.sha256[:12]}  -> release {name}")
                continue
            notes = notes_file.read_text(encoding="utf-8") if notes_file.is_file() else name
            prerelease = "-" in (owned[1] if owned else name.removeprefix("v"))
            assets_mod.attach(
                folder, name, notes, prerelease=prerelease, package=package, say=console.print
            )


@task(
    help={
        "tag": "The release tag whose record to fetch, e.g. v1.4.2 (or a package tag, e.g. "
        "cli-v1.4.3, under policy independent: its release's record).",
        "target": "Where the release was published: `sandbox` (default) or a [targets.NAME] "
        "of release.toml; its key checks the record's signed provenance.",
        "key": "The release's public key, a file or env://VAR (default: the sandbox's key, "
        "or the public half of the target's signing key); never the copy among the release assets.",
    }
)
def fetch(c: Context, tag: str, target: str = "sandbox", key: str | None = None) -> None:
    """Download a GitHub release's record into dist/<version>/, once its provenance verifies."""
    from releasekit.build import images
    from releasekit.core.errors import PreflightError
    from releasekit.deploy import helm as helm_deploy
    from releasekit.deploy import testbed
    from releasekit.publish import agreement, targets
    from releasekit.publish.trust import key_file, trusted_key
    from releasekit.release.verify import tag_release

    with reported():
        ws = load_workspace()
        version = tag_release(ws, tag)
        folder = ws.root / "dist" / version
        state = testbed.running(ws.root) if target == targets.SANDBOX else None
        chosen = targets.resolve(ws.manifest, target, state, credentials=False)
        public = trusted_key(ws.root, chosen, key_file(ws.root, key) if key else None)
        say = console.print
        for path in agreement.fetch_verified(tag, version, folder, public, say=say):
            console.print(f"{path.relative_to(ws.root)}")
        pins = helm_deploy.image_pins(folder / "images.json")
        missing = sorted({spec.name for spec in images.specs(ws)} - set(pins))
        if missing:
            raise PreflightError(
                f"{folder / 'images.json'} of release {tag} pins no digest for "
                f"{', '.join(missing)}: a deploy would run unreleased images. Attach the "
                "complete record of the release (`invoke release.assets`) and fetch again."
            )


@task
def pack(c: Context) -> None:
    """Add the release commit (git bundle) and the built images to build/release/ for another machine."""  # noqa: E501
    from releasekit.release import handoff

    with reported():
        ws = load_workspace()
        for path in handoff.pack(ws):
            console.print(f"{path.relative_to(ws.root)}")


@task
def unpack(c: Context) -> None:
    """Check out the packed release commit on the release branch and load its images."""
    from releasekit.release import handoff

    with reported():
        commit = handoff.unpack(load_workspace())
        console.print(f"release commit {commit[:12]} checked out; images loaded")


@task(
    help={
        "push": "Push the release commit at HEAD to this branch of the target's git remote "
        "(e.g. release/123), for the build runners of a split release.",
        "checkout": "Fetch this branch and check out its release commit on the release branch "
        "(the merging runner, before `invoke release --merge`).",
        "target": "Whose git remote (and git token) to use: `sandbox` (default) or a "
        "[targets.NAME] of release.toml.",
    }
)
def ref(c: Context, push: str = "", checkout: str = "", target: str = "sandbox") -> None:
    """Hand the release commit of a split release to its runners through a branch."""
    from releasekit.core.errors import ReleaseError
    from releasekit.release import release_ref

    with reported():
        ws = load_workspace()
        if bool(push) == bool(checkout):
            raise ReleaseError("Give one of --push REF and --checkout REF.")
        if push:
            commit = release_ref.push(ws, target, push)
            console.print(f"release commit {commit[:12]} -> {push}")
        else:
            commit = release_ref.checkout(ws, target, checkout)
            console.print(f"release commit {commit[:12]} checked out on {ws.manifest.branch}")


ns = Collection("release", release_task, assets, fetch, pack, unpack, ref)
