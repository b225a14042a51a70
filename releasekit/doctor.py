"""Every external tool the toolkit drives: found or not, its version, how to install it."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

from releasekit.errors import ReleaseError
from releasekit.run import run

__all__ = ["TOOLS", "Check", "Tool", "check_all", "check_tool"]

_SETUP = "Run `scripts/setup.sh` as root on Debian, or"


@dataclass(frozen=True)
class Tool:
    """An external command, how to ask its version, and how to install it."""

    name: str
    version_argv: tuple[str, ...]
    purpose: str
    install: str


@dataclass(frozen=True)
class Check:
    """The doctor's finding for one tool."""

    tool: Tool
    path: str | None
    version: str | None

    @property
    def ok(self) -> bool:
        return self.path is not None and self.version is not None


TOOLS: tuple[Tool, ...] = (
    Tool("git", ("git", "--version"), "history, tags, push", f"{_SETUP} `apt-get install git`."),
    Tool(
        "docker",
        ("docker", "version", "--format", "{{.Server.Version}}"),
        "image builds and the pilot deployment (client and a running engine)",
        f"{_SETUP} `apt-get install docker.io` and start `dockerd`.",
    ),
    Tool(
        "docker-compose",
        ("docker-compose", "version", "--short"),
        "the pilot deployment",
        f"{_SETUP} `apt-get install docker-compose`.",
    ),
    Tool(
        "docker-registry",
        ("docker-registry", "--version"),
        "the sandbox's OCI registry",
        f"{_SETUP} `apt-get install docker-registry`.",
    ),
    Tool(
        "debootstrap",
        ("debootstrap", "--version"),
        "local base images where none can be pulled",
        f"{_SETUP} `apt-get install debootstrap`.",
    ),
    Tool(
        "helm",
        ("helm", "version", "--short"),
        "charts: lint, template, package, push, deploy",
        f"{_SETUP} `go install helm.sh/helm/v3/cmd/helm@v3.16.4`.",
    ),
    Tool(
        "terraform",
        ("terraform", "version"),
        "infrastructure: fmt, validate, plan, apply",
        "Install terraform >= 1.5 from HashiCorp's packages into /usr/local/bin.",
    ),
    Tool(
        "twine",
        ("twine", "--version"),
        "checking and uploading Python distributions",
        f"{_SETUP} `pip install twine`.",
    ),
    Tool(
        "pypi-server",
        ("pypi-server", "--version"),
        "the sandbox's package index",
        f"{_SETUP} `pip install pypiserver`.",
    ),
    Tool(
        "actionlint",
        ("actionlint", "-version"),
        "linting .github/workflows",
        f"{_SETUP} `go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.4`.",
    ),
    Tool(
        "cosign",
        ("cosign", "version"),
        "signing images, charts and the provenance; `invoke verify`",
        f"{_SETUP} `go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3`.",
    ),
    Tool(
        "chromium",
        ("chromium", "--version"),
        "the end-to-end check of the pilot's frontend",
        f"{_SETUP} `apt-get install chromium`.",
    ),
    Tool(
        "pyinstaller",
        ("pyinstaller", "--version"),
        "the standalone `ironcage` binary",
        f"{_SETUP} `pip install pyinstaller`.",
    ),
)


def check_tool(tool: Tool) -> Check:
    """Find ``tool`` on PATH and ask its version (the first version-looking token)."""
    path = shutil.which(tool.name)
    if path is None:
        return Check(tool, None, None)
    try:
        result = run(list(tool.version_argv), check=False, timeout=20, mutates=False, quiet=True)
    except ReleaseError:
        return Check(tool, path, None)
    if result.returncode != 0:
        return Check(tool, path, None)
    text = result.stdout + result.stderr
    match = re.search(r"v?(\d+\.\d+(?:\.\d+)?[^\s,\"]*)", text)
    return Check(tool, path, match.group(1) if match else text.strip().splitlines()[0])


def check_all() -> list[Check]:
    """The doctor's finding for every tool, in a fixed order."""
    return [check_tool(tool) for tool in TOOLS]
