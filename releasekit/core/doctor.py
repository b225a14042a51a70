"""Every external tool the toolkit drives: found or not, its version, how to install it."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from releasekit.core.errors import PreflightError, ReleaseError
from releasekit.core.run import run

__all__ = [
    "TASK_TOOLS",
    "TOOLS",
    "Check",
    "Tool",
    "check_all",
    "check_tool",
    "needed_by",
    "older_than",
    "setup_command",
]


def setup_command(parts: list[str] | tuple[str, ...]) -> str:
    """The `scripts/setup.sh` call that installs ``parts`` (the base alone when empty)."""
    return f"scripts/setup.sh --with {','.join(dict.fromkeys(parts)) or 'none'}"


def _setup(part: str) -> str:
    return f"Run `{setup_command([part] if part else [])}` as root on Debian, or"


_CLUSTER = (
    "the local Kubernetes cluster (invoke cluster.up)",
    f"{_setup('cluster')} see scripts/build-kubernetes.sh: it builds the control plane from "
    "the Go module proxy (about 10 minutes the first time).",
)


@dataclass(frozen=True)
class Tool:
    """An external command, how to ask its version, and how to install it."""

    name: str
    version_argv: tuple[str, ...]
    purpose: str
    install: str
    minimum: str | None = None
    part: str = ""
    """The part of `scripts/setup.sh --with` that installs it ("" for the base)."""
    version_in_name: bool = False
    """The command has no version flag: ``version_argv`` only shows it runs, and the version
    is in the name of the file it links to (``<name>-vX.Y.Z``, as its build script names it)."""


@dataclass(frozen=True)
class Check:
    """The doctor's finding for one tool."""

    tool: Tool
    path: str | None
    version: str | None

    @property
    def too_old(self) -> bool:
        """True when the tool answers with a version below its minimum."""
        minimum = self.tool.minimum
        return bool(minimum and self.version and older_than(self.version, minimum))

    @property
    def ok(self) -> bool:
        return self.path is not None and self.version is not None and not self.too_old

    @property
    def problem(self) -> str | None:
        """Why the tool cannot be used, with the fix; None when it can."""
        if self.path is None:
            return f"`{self.tool.name}` is missing. {self.tool.install}"
        if self.version is None and self.tool.version_in_name:
            return (
                f"`{self.tool.name}` at {self.path} does not tell its version: it neither "
                f"links to a file named {self.tool.name}-vX.Y.Z nor answers "
                f"`{' '.join(self.tool.version_argv)}`. {self.tool.install}"
            )
        if self.version is None:
            asked = " ".join(self.tool.version_argv)
            return (
                f"`{self.tool.name}` at {self.path} does not answer `{asked}`. {self.tool.install}"
            )
        if self.too_old:
            return (
                f"`{self.tool.name}` at {self.path} is {self.version}, older than the "
                f"{self.tool.minimum} the toolkit needs. {self.tool.install}"
            )
        return None


def older_than(version: str, minimum: str) -> bool:
    """True when ``version`` (``v3.16.4``, ``4.3.2+g1a2b``) is below ``minimum``."""

    def parts(text: str) -> tuple[int, ...]:
        found = re.match(r"v?(\d+(?:\.\d+)*)", text.strip())
        return tuple(int(p) for p in found.group(1).split(".")) if found else (0,)

    return parts(version) < parts(minimum)


# Flux v2.9.2, as scripts/build-flux.sh pins it: each controller's CRDs are of its version.
_FLUX = (("source-controller", "1.9.3"), ("kustomize-controller", "1.9.3"),
         ("helm-controller", "1.6.2"))  # fmt: skip


def _flux(name: str, version: str) -> Tool:
    return Tool(
        name,
        (name, "--help"),
        "GitOps: Flux's controller in the local cluster (invoke cluster.up), applying the "
        "environments' desired state",
        f"{_setup('cluster')} scripts/build-flux.sh: it builds Flux v2.9.2's controllers "
        "from the Go module proxy (about 4 minutes the first time), with their CRDs.",
        minimum=version,
        part="cluster",
        version_in_name=True,
    )


TOOLS: tuple[Tool, ...] = (
    Tool(
        "git", ("git", "--version"), "history, tags, push", f"{_setup('')} `apt-get install git`."
    ),
    Tool(
        "docker",
        ("docker", "version", "--format", "{{.Server.Version}}"),
        "image builds and the pilot deployment (client and a running engine)",
        f"{_setup('docker')} `apt-get install docker.io` and start `dockerd`.",
        part="docker",
    ),
    Tool(
        "buildkitd",
        ("buildkitd", "--version"),
        "the image builder (BuildKit's daemon; not needed with BUILDKIT_HOST)",
        f"{_setup('docker')} scripts/build-buildkit.sh (builds buildkitd and buildctl "
        "v0.34.2 from the Go module proxy).",
        minimum="0.34.0",
        part="docker",
    ),
    Tool(
        "buildctl",
        ("buildctl", "--version"),
        "the image builds (BuildKit's client)",
        f"{_setup('docker')} scripts/build-buildkit.sh (builds buildkitd and buildctl "
        "v0.34.2 from the Go module proxy).",
        minimum="0.34.0",
        part="docker",
    ),
    Tool(
        "runc",
        ("runc", "--version"),
        "the container runtime buildkitd runs build steps with",
        f"{_setup('docker')} `apt-get install runc`.",
        part="docker",
    ),
    Tool(
        "docker-compose",
        ("docker-compose", "version", "--short"),
        "the pilot deployment",
        f"{_setup('docker')} `apt-get install docker-compose`.",
        part="docker",
    ),
    Tool(
        "docker-registry",
        ("docker-registry", "--version"),
        "the sandbox's OCI registry",
        f"{_setup('registry')} `apt-get install docker-registry`.",
        part="registry",
    ),
    Tool(
        "debootstrap",
        ("debootstrap", "--version"),
        "local base images where none can be pulled",
        f"{_setup('docker')} `apt-get install debootstrap` (setup installs it only where the "
        "public base images cannot be pulled).",
        part="docker",
    ),
    Tool(
        "helm",
        ("helm", "version", "--short"),
        "charts: lint, template, package, push, deploy (Helm 4)",
        f"{_setup('helm')} `go install helm.sh/helm/v4/cmd/helm@v4.3.2` (with -ldflags "
        "'-X helm.sh/helm/v4/internal/version.version=v4.3.2') and put it first on PATH: "
        "Helm 3 lacks --rollback-on-failure, --wait=watcher and server-side apply.",
        minimum="4.0.0",
        part="helm",
    ),
    Tool(
        "openssl",
        ("openssl", "version"),
        "certificates of the local Kubernetes cluster",
        f"{_setup('cluster')} `apt-get install openssl`.",
        part="cluster",
    ),
    Tool("etcd", ("etcd", "--version"), *_CLUSTER, part="cluster"),
    Tool("kube-apiserver", ("kube-apiserver", "--version"), *_CLUSTER, part="cluster"),
    Tool(
        "kube-controller-manager",
        ("kube-controller-manager", "--version"),
        *_CLUSTER,
        part="cluster",
    ),
    Tool("kube-scheduler", ("kube-scheduler", "--version"), *_CLUSTER, part="cluster"),
    Tool("kwok", ("kwok", "--version"), *_CLUSTER, part="cluster"),
    *(_flux(name, version) for name, version in _FLUX),
    Tool(
        "terraform",
        ("terraform", "version"),
        "infrastructure: fmt, validate, plan, apply",
        "Install terraform >= 1.5 from HashiCorp's packages into /usr/local/bin "
        f"(`{setup_command(['terraform'])}` checks it).",
        part="terraform",
    ),
    Tool(
        "twine",
        ("twine", "--version"),
        "checking and uploading Python distributions",
        f"{_setup('')} `pip install twine`.",
    ),
    Tool(
        "uv",
        ("uv", "--version"),
        "building the Python distributions and their smoke-test environments",
        f"{_setup('')} `pip install uv`.",
    ),
    Tool(
        "pypi-server",
        ("pypi-server", "--version"),
        "the sandbox's package index",
        f"{_setup('')} `pip install pypiserver`.",
    ),
    Tool(
        "actionlint",
        ("actionlint", "-version"),
        "linting .github/workflows",
        f"{_setup('actionlint')} `go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.4`.",
        part="actionlint",
    ),
    Tool(
        "cosign",
        ("cosign", "version"),
        "signing images, charts and the provenance; `invoke verify`",
        f"{_setup('cosign')} `go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3`.",
        part="cosign",
    ),
    Tool(
        "act",
        ("act", "--version"),
        "running the GitHub workflows locally (`nox -s workflows-run`; optional)",
        f"{_setup('act')} `go install github.com/nektos/act@v0.2.89`.",
        part="act",
    ),
    Tool(
        "chromium",
        ("chromium", "--version"),
        "the end-to-end check of the pilot's frontend",
        f"{_setup('browser')} `apt-get install chromium`.",
        part="browser",
    ),
    Tool(
        "redis-server",
        ("redis-server", "--version"),
        "the agent runtime's task store in its tests",
        f"{_setup('redis')} `apt-get install redis-server`.",
        part="redis",
    ),
    Tool(
        "pyinstaller",
        ("pyinstaller", "--version"),
        "the standalone `ironcage` binary",
        f"{_setup('')} `pip install pyinstaller`.",
    ),
)

_KUBE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
_BUILD = ("git", "docker", "buildkitd", "buildctl", "runc", "helm", "uv", "pyinstaller")
# The tools each task drives (the tasks the README and the workflows run).
TASK_TOOLS: dict[str, tuple[str, ...]] = {
    "release": (*_BUILD, "twine", "cosign"),
    "build": _BUILD,
    "build.images": ("docker", "buildkitd", "buildctl", "runc"),
    "sign.keyless": ("cosign",),
    "verify": ("cosign", "helm"),
    "sandbox": ("docker-registry", "pypi-server", "git"),
    "deploy": ("docker", "docker-compose", "helm"),
    "cluster": ("openssl", *_KUBE, *(name for name, _ in _FLUX)),
    "helm.deploy": ("helm",),
    "tf.plan": ("terraform",),
    "tf.apply": ("terraform",),
}


def needed_by(task: str) -> tuple[Tool, ...]:
    """The tools ``task`` drives; PreflightError naming the known tasks for another name."""
    names = TASK_TOOLS.get(task)
    if names is None:
        raise PreflightError(
            f"`invoke doctor --task {task}`: no list of tools for `{task}`. Pass one of "
            f"{', '.join(sorted(TASK_TOOLS))}, or run `invoke doctor` for every tool."
        )
    return tuple(t for t in TOOLS if t.name in names)


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
    if tool.version_in_name:
        named = re.fullmatch(rf"{re.escape(tool.name)}-v?(\d+\.\d+\.\d+\S*)",
                             Path(path).resolve().name)  # fmt: skip
        runs = f"Usage of {tool.name}" in result.stdout + result.stderr
        return Check(tool, path, named.group(1) if named and runs else None)
    text = result.stdout + result.stderr
    match = re.search(r"v?(\d+\.\d+(?:\.\d+)?[^\s,\"]*)", text)
    return Check(tool, path, match.group(1) if match else text.strip().splitlines()[0])


def check_all(tools: tuple[Tool, ...] = TOOLS) -> list[Check]:
    """The doctor's finding for every tool of ``tools``, in a fixed order."""
    return [check_tool(tool) for tool in tools]
