"""Prime the builder: what every image build needs and no commit changes, built ahead.

A builder with an empty state spends the first seconds of a release on work that is the
same for every commit: importing each base image (every platform of its OCI layout) into
its content store, and building the stages no commit changes (``pip``: a virtualenv of pip
made from the base alone). ``prime`` does that work once, so the first release after
``scripts/setup.sh`` starts where any later one does. Nothing it builds reaches an image
by another way than BuildKit's cache, so a primed build gives the same digests as an
unprimed one.

A stage is commit-free when it declares no ``ARG SOURCE_DATE_EPOCH`` and copies nothing
(no ``COPY``/``ADD``): its steps depend only on the base and the Dockerfile.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from releasekit.build.artifacts import Progress
from releasekit.build.images import buildkit
from releasekit.build.images.builder import builder
from releasekit.build.images.buildkit_image import Request, build_argv
from releasekit.build.images.spec import ImageSpec, connect, specs
from releasekit.core.workspace import Workspace

__all__ = ["commit_free_stages", "prime"]

_FROM = re.compile(r"^FROM\s+(?:--platform=\S+\s+)?\S+(?:\s+AS\s+([\w.-]+))?\s*$", re.I | re.M)
_TOUCHES_COMMIT = re.compile(r"^(?:ARG\s+SOURCE_DATE_EPOCH\b|COPY\s|ADD\s)", re.I | re.M)


def commit_free_stages(dockerfile: str) -> list[str]:
    """The named stages of ``dockerfile`` that neither declare SOURCE_DATE_EPOCH nor copy."""
    starts = list(_FROM.finditer(dockerfile))
    found = []
    for number, match in enumerate(starts):
        end = starts[number + 1].start() if number + 1 < len(starts) else len(dockerfile)
        body = dockerfile[match.end() : end]
        if match.group(1) and not _TOUCHES_COMMIT.search(body):
            found.append(match.group(1))
    return found


def _base_dockerfile(ref: str) -> str:
    # RUN makes BuildKit import (and unpack) the base for each platform, as a build does.
    return f"FROM {ref}\nRUN true\n"


def prime(
    ws: Workspace, images: Iterable[ImageSpec] | None = None, progress: Progress | None = None
) -> list[str]:
    """Import every base of ``images`` (default all) for every platform, and build their
    commit-free stages, on the builder a build would use; one line per thing primed."""
    say = progress or (lambda _msg: None)
    chosen = list(images if images is not None else specs(ws))
    if not chosen:
        return []
    found = builder(ws, chosen, connect(), say=say)  # no git: nothing here is tagged
    done: list[str] = []
    folder = ws.root / "build" / "buildkit" / "prime"
    folder.mkdir(parents=True, exist_ok=True)
    platforms = ",".join(found.platforms)

    def solve(scratch: str, argv: list[str], what: str, hint: str) -> None:
        buildkit.build(
            found.daemon, argv, metadata=Path(scratch) / "metadata.json",
            log=folder / "prime.log", what=what, hint=hint,
        )  # fmt: skip

    for arg, local in sorted(found.layouts.items()):
        say(f"prime: importing {local.ref} ({platforms})")
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            (Path(scratch) / "Dockerfile").write_text(_base_dockerfile(local.ref))
            argv = [
                "--frontend", "dockerfile.v0",
                "--local", f"context={scratch}",
                "--local", f"dockerfile={scratch}",
                "--opt", f"platform={platforms}",
                "--oci-layout", f"base={local.layout}",
                "--opt", f"context:{local.ref}=oci-layout://base@{local.digest}",
            ]  # fmt: skip
            hint = "Check the base's layout (scripts/setup.sh writes it) and run again."
            solve(scratch, argv, f"Importing the base {local.ref} ({arg})", hint)
        done.append(f"{arg}: {local.ref} imported for {platforms}")
    for spec in chosen:
        text = (ws.root / spec.dockerfile).read_text(encoding="utf-8")
        for stage in commit_free_stages(text):
            args = {**spec.build_args, spec.base_arg: found.bases[spec.base_arg].ref}
            req = Request(spec, args, "0", found.platforms, (found.layouts[spec.base_arg],))
            say(f"prime: {spec.name} stage {stage}")
            with tempfile.TemporaryDirectory(dir=folder) as scratch:
                argv = build_argv(
                    ws.root, req, found.platforms, context=Path(scratch), target=stage
                )
                what = f"The stage {stage} of {spec.dockerfile}"
                solve(scratch, argv, what, f"Fix {spec.dockerfile} and run again.")
            done.append(f"{spec.name}: stage {stage} built")
    return done
