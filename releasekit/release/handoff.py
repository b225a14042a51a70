"""Hand a release stopped after building to another machine, which publishes it.

`invoke release --stop-after verify` builds and verifies on a machine that holds no
publishing credential, leaving dist/<version>/ and build/release/state.json. ``pack`` adds
what else the publishing machine needs to build/release/: the release commit as a git
bundle and the built images as one `docker save` archive. On the publishing machine, with
those two folders in place, ``unpack`` fetches the release commit onto the release branch
and loads the images; `invoke release --resume` then tags, publishes and signs exactly
what was built, building nothing again.
"""

from __future__ import annotations

from pathlib import Path

from releasekit.build.images import specs
from releasekit.core import git
from releasekit.core.errors import ReleaseError
from releasekit.core.run import require_tool, run
from releasekit.core.workspace import Workspace
from releasekit.release.plan import RELEASE_DIR, state_path
from releasekit.release.state import State

__all__ = ["BUNDLE", "IMAGES", "Handoff", "pack", "unpack"]

BUNDLE = RELEASE_DIR / "release.bundle"
IMAGES = RELEASE_DIR / "images.tar"
_DOCKER_HINT = "Run `scripts/setup.sh --with docker` as root, or install Docker Engine."


class Handoff:
    """The unfinished release recorded in build/release/state.json, built and verified."""

    def __init__(self, ws: Workspace) -> None:
        path = state_path(ws.root)
        state = State.load(path)
        if state is None or state.complete:
            raise ReleaseError(
                f"{path} holds no unfinished release. Run `invoke release --stop-after verify` "
                "first (on the publishing machine: download its dist/ and build/release/)."
            )
        missing = [step for step in ("prepare", "build", "verify") if not state.done(step)]
        if missing:
            raise ReleaseError(
                f"The release {state.version} in {path} has not finished {', '.join(missing)}: "
                "hand over a release only once it is built and verified "
                "(`invoke release --resume --stop-after verify`)."
            )
        self.ws, self.state = ws, state
        self.version = str(state.version)
        self.commit = str(state.steps["prepare"]["outputs"]["commit"])
        self.images = [f"{spec.repository}:{self.version}" for spec in specs(ws)]


def pack(ws: Workspace) -> list[Path]:
    """Write the release commit and the built images into build/release/; their paths."""
    handoff, root = Handoff(ws), ws.root
    head = git.head(root)
    if head != handoff.commit:
        raise ReleaseError(
            f"HEAD is {head[:12]}, not the release commit {handoff.commit[:12]} recorded in "
            f"{state_path(root)}: check it out (`git checkout {handoff.commit[:12]}`) and pack "
            "again."
        )
    bundle, archive = root / BUNDLE, root / IMAGES
    run(["git", "-C", str(root), "bundle", "create", "--quiet", str(bundle), "HEAD", "^HEAD~1"])
    written = [bundle]
    if handoff.images:
        docker = require_tool("docker", _DOCKER_HINT)
        run([docker, "save", "--output", str(archive), *handoff.images])
        written.append(archive)
    return written


def unpack(ws: Workspace) -> str:
    """Check out the release commit on the release branch and load the images; the commit."""
    handoff, root = Handoff(ws), ws.root
    bundle, archive = root / BUNDLE, root / IMAGES
    if not bundle.is_file():
        raise ReleaseError(
            f"{bundle} does not exist: run `invoke release.pack` where the release was built "
            "and bring its build/release/ here with dist/."
        )
    git_root = str(root)
    run(["git", "-C", git_root, "fetch", "--quiet", str(bundle), "HEAD"])
    fetched = run(["git", "-C", git_root, "rev-parse", "FETCH_HEAD"], mutates=False, quiet=True)
    if fetched.stdout.strip() != handoff.commit:
        raise ReleaseError(
            f"{bundle} holds commit {fetched.stdout.strip()[:12]}, but {state_path(root)} "
            f"records the release commit {handoff.commit[:12]}: the two come from different "
            "releases. Download both folders of the same build."
        )
    branch = ws.manifest.branch
    run(["git", "-C", git_root, "checkout", "--quiet", "-B", branch, handoff.commit])
    if handoff.images:
        if not archive.is_file():
            raise ReleaseError(
                f"{archive} does not exist: run `invoke release.pack` where the release was "
                "built, so its images come along."
            )
        docker = require_tool("docker", _DOCKER_HINT)
        run([docker, "load", "--quiet", "--input", str(archive)])
    return handoff.commit
