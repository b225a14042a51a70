"""Which image platforms this machine can build, and the release's check of what was built.

The host builds its own platform; another one needs its programs run by QEMU, which the
kernel does through a ``binfmt_misc`` handler (``scripts/setup.sh`` registers
``qemu-aarch64`` from Debian's ``qemu-user-static``). The handler must be enabled and carry
the ``F`` flag (the interpreter opened once, so it also runs inside BuildKit's containers).
A remote builder (``BUILDKIT_HOST``) builds what its workers list instead: pass those.

``require_platforms`` is the release's refusal: every image must hold exactly the
platforms of release.toml's ``[release] platforms``, no fewer (a machine without QEMU) and
no more.
"""

from __future__ import annotations

import platform as host
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from releasekit.core.errors import PreflightError

__all__ = [
    "BINFMT_DIR",
    "buildable_platforms",
    "emulated",
    "host_platform",
    "require_platforms",
]

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_HANDLER = {"linux/amd64": "qemu-x86_64", "linux/arm64": "qemu-aarch64"}
_SETUP = "scripts/setup.sh"


def host_platform(machine: str | None = None) -> str:
    """This machine's platform as OCI names it (``linux/amd64``, ``linux/arm64``)."""
    found = machine or host.machine()
    return f"linux/{_ARCH.get(found.lower(), found.lower())}"


def emulated(platform: str, binfmt: Path = BINFMT_DIR) -> bool:
    """True when the kernel runs ``platform``'s programs through an enabled QEMU handler."""
    name = _HANDLER.get(platform)
    if name is None:
        return False
    try:
        lines = (binfmt / name).read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1] for line in lines if line.startswith("flags:")), "")
    return "enabled" in lines and "F" in flags


def buildable_platforms(
    wanted: Iterable[str],
    *,
    workers: Collection[str] | None = None,
    binfmt: Path = BINFMT_DIR,
    machine: str | None = None,
) -> tuple[str, ...]:
    """The platforms of ``wanted`` (in its order) this machine can build.

    ``workers``: the platforms a BuildKit daemon's workers list (``buildctl debug
    workers``); when given they decide. Otherwise the host's platform and those QEMU runs.
    """
    if workers is not None:
        return tuple(p for p in wanted if p in workers)
    own = host_platform(machine)
    return tuple(p for p in wanted if p == own or emulated(p, binfmt))


def require_platforms(
    manifest: Path, wanted: Collection[str], images: Mapping[str, Iterable[str]]
) -> None:
    """PreflightError unless every image of ``images`` (name: its platforms) holds ``wanted``.

    Nothing is tagged or published before this passes, so a machine that built fewer
    platforms than release.toml names (no QEMU) cannot ship a narrower release unnoticed.
    """
    bad = {
        name: tuple(sorted(found))
        for name, found in ((n, set(p)) for n, p in sorted(images.items()))
        if found != set(wanted)
    }
    if not bad:
        return
    listed = "; ".join(f"{name} has {', '.join(p) or 'no platform'}" for name, p in bad.items())
    missing = sorted({p for found in bad.values() for p in set(wanted) - set(found)})
    why = (
        f"this machine cannot build {', '.join(missing)} (QEMU's binfmt handler is not registered)"
        if missing
        else "they were built for other platforms"
    )
    raise PreflightError(
        f"{manifest} asks for images of {', '.join(wanted)} ([release] platforms), but {listed}: "
        f"{why}. Nothing was tagged or published. Register QEMU with `sudo {_SETUP} --with "
        f"docker` (or build where it is registered, or point BUILDKIT_HOST at a builder that "
        f"lists those platforms) and build again, or narrow `platforms` in [release] of "
        f"{manifest.name} to what you mean to ship."
    )
