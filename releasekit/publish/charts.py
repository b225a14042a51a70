"""Helm charts: find, lint, render and schema-validate, package, push to OCI.

Every helm call is an argument list built by a ``*_argv`` function and run once through
``run_helm``. Charts live in ``helm/<chart>/`` with one ``values-<env>.yaml`` per
environment; rendered manifests are validated offline against the Kubernetes JSON schemas
of ``KUBERNETES_VERSION`` (``kubernetes-validate``). Releases of the charts (deploy, roll
back, history) are ``releasekit.deploy.helm``.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasekit.core import files
from releasekit.core.doctor import TOOLS, check_tool
from releasekit.core.errors import ConflictError, ManifestError, ToolError, ToolMissingError
from releasekit.core.run import (
    Result,
    cloud_credentials,
    redact,
    register_secret,
    require_tool,
    run,
)
from releasekit.publish.chart_archive import archive_meta, contents, epoch_of, normalise, sha256

__all__ = [
    "ENVIRONMENTS",
    "KUBERNETES_VERSION",
    "Chart",
    "Invalid",
    "Pushed",
    "Rendered",
    "chart_repo",
    "check_env",
    "find_charts",
    "lint",
    "lint_argv",
    "login",
    "login_argv",
    "package",
    "package_argv",
    "plain_http",
    "pull_argv",
    "push",
    "push_argv",
    "render",
    "run_helm",
    "template_argv",
    "validate",
]


ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")
KUBERNETES_VERSION = "1.31.0"
CHARTS_DIR = "helm"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_SCHEMA_FAILURE = "don't meet the specifications of the schema"


@dataclass(frozen=True)
class Chart:
    """A chart folder: its name, its path relative to the repository root, its version."""

    name: str
    root: Path
    path: Path
    version: str

    @property
    def dir(self) -> Path:
        """The chart folder, absolute."""
        return self.root / self.path

    def values(self, env: str) -> Path:
        """The values file of environment ``env``, relative to the repository root."""
        return self.path / f"values-{check_env(env)}.yaml"


@dataclass(frozen=True)
class Rendered:
    """The manifests one chart renders for one environment."""

    chart: str
    env: str
    manifests: tuple[dict[str, Any], ...]
    text: str


@dataclass(frozen=True)
class Invalid:
    """A rendered manifest the Kubernetes schema rejects."""

    chart: str
    env: str
    kind: str
    name: str
    error: str

    def __str__(self) -> str:
        return f"{self.chart} ({self.env}): {self.kind}/{self.name}: {self.error}"


@dataclass(frozen=True)
class Pushed:
    """What pushing one chart archive did: pushed, or skipped as already there."""

    chart: str
    version: str
    ref: str
    action: str


def check_env(env: str) -> str:
    """``env`` when it is a known environment; ManifestError listing the known ones else."""
    if env not in ENVIRONMENTS:
        raise ManifestError(
            f"Unknown environment `{env}`: the charts know {', '.join(ENVIRONMENTS)} "
            f"({CHARTS_DIR}/<chart>/values-<env>.yaml). Pass one of those to --env."
        )
    return env


def _require_helm() -> None:
    """helm on PATH, at least Helm 4; ToolMissingError with the fix otherwise."""
    tool = next(t for t in TOOLS if t.name == "helm")
    _helm_4(require_tool("helm", tool.install))


@functools.cache
def _helm_4(path: str) -> None:
    """Refuse the helm at ``path`` when it is older than Helm 4 (asked once per path)."""
    problem = check_tool(next(t for t in TOOLS if t.name == "helm")).problem
    if problem:
        raise ToolMissingError(problem)


def find_charts(root: Path, only: str | None = None) -> list[Chart]:
    """Every chart under ``root/helm`` (or just ``only``), sorted by name."""
    import yaml

    found = []
    for chart_yaml in sorted((root / CHARTS_DIR).glob("*/Chart.yaml")):
        meta = yaml.safe_load(chart_yaml.read_text(encoding="utf-8")) or {}
        rel = chart_yaml.parent.relative_to(root)
        found.append(Chart(str(meta["name"]), root, rel, str(meta["version"])))
    if only is not None:
        chosen = [c for c in found if c.name == only]
        if not chosen:
            known = ", ".join(c.name for c in found) or "none"
            raise ManifestError(
                f"Unknown chart `{only}`: {root / CHARTS_DIR} holds {known}. Pass one of those."
            )
        return chosen
    return found


def plain_http(registry: str) -> bool:
    """True for a loopback registry, which serves plain HTTP."""
    host = registry.removeprefix("oci://").split("/", 1)[0]
    return host.rsplit(":", 1)[0] in _LOOPBACK or host in _LOOPBACK


def chart_repo(registry: str) -> str:
    """The OCI repository charts go to: ``HOST`` -> ``oci://HOST/charts``; oci:// URLs kept."""
    if registry.startswith("oci://"):
        return registry.rstrip("/")
    return f"oci://{registry.rstrip('/')}/charts"


def _tls(registry: str) -> list[str]:
    return ["--plain-http"] if plain_http(registry) else []


# -- argv builders ---------------------------------------------------------------------------


def lint_argv(chart: Path, values: Path) -> list[str]:
    return ["helm", "lint", "--strict", str(chart), "-f", str(values)]


def template_argv(
    release: str, chart: Path, namespace: str, values: Path, sets: list[str] | None = None
) -> list[str]:
    argv = ["helm", "template", release, str(chart), "--namespace", namespace]
    argv += ["--kube-version", KUBERNETES_VERSION, "-f", str(values)]
    for item in sets or []:
        argv += ["--set", item]
    return argv


def package_argv(chart: Path, version: str | None, dest: Path) -> list[str]:
    """``helm package``: at ``version`` (chart version and appVersion), else as Chart.yaml says."""
    pinned = ["--version", version, "--app-version", version] if version else []
    return ["helm", "package", str(chart), *pinned, "--destination", str(dest)]


def push_argv(archive: Path, registry: str) -> list[str]:
    return ["helm", "push", str(archive), chart_repo(registry), *_tls(registry)]


def login_argv(registry: str, username: str) -> list[str]:
    """``helm registry login``; the password goes on standard input, never in argv."""
    host = chart_repo(registry).removeprefix("oci://").split("/", 1)[0]
    return ["helm", "registry", "login", host, "--username", username, "--password-stdin",
            *_tls(registry)]  # fmt: skip


def login(registry: str, username: str, password: str) -> None:
    """Log helm in to the chart registry (credentials from the target's variables)."""
    register_secret(password)
    run_helm(login_argv(registry, username), input=password)


def pull_argv(registry: str, chart: str, version: str, dest: Path) -> list[str]:
    ref = f"{chart_repo(registry)}/{chart}"
    return ["helm", "pull", ref, "--version", version, "--destination", str(dest), *_tls(registry)]


# -- lint and render -------------------------------------------------------------------------


def run_helm(
    argv: list[str], values: Path | None = None, check: bool = True, **kwargs: Any
) -> Result:
    """Run one helm command; its failure carries helm's findings and names a bad values file.

    ``helm lint`` reports on stdout and only sums up on stderr, so both are kept. helm's
    only secrets are the cloud credentials a kubeconfig may sign in with.
    """
    _require_helm()
    result = run(argv, check=False, secrets=cloud_credentials(), **kwargs)
    if result.returncode == 0 or not check or result.dry_run:
        return result
    lines = [*result.stdout.strip().splitlines(), *result.stderr.strip().splitlines()]
    tail = redact("\n".join(line for line in lines if line.strip())[-4000:])
    hint = ""
    if "cluster unreachable" in tail:
        hint = (
            "No Kubernetes cluster answers: point KUBECONFIG (and RELEASEKIT_KUBE_CONTEXT) at "
            "the cluster of this environment, or start the local one with `invoke cluster.up` "
            "and use `--env cluster`."
        )
    if values is not None and _SCHEMA_FAILURE in tail:
        hint = (
            f"The values in {values} break the chart's values.schema.json (helm's message "
            f"above): fix {values}."
        )
    raise ToolError([redact(a) for a in result.argv], result.returncode, tail, hint)


def lint(root: Path, envs: tuple[str, ...] = ENVIRONMENTS, chart: str | None = None) -> int:
    """``helm lint --strict`` every chart with each environment's values; the run count."""
    count = 0
    for c in find_charts(root, chart):
        for env in envs:
            run_helm(lint_argv(c.path, c.values(env)), c.values(env), mutates=False, cwd=root)
            count += 1
    return count


def render(root: Path, env: str, chart: Chart, sets: list[str] | None = None) -> Rendered:
    """``helm template`` one chart for one environment (release = chart name)."""
    import yaml

    values = chart.values(env)
    argv = template_argv(chart.name, chart.path, f"ironcage-{env}", values, sets)
    result = run_helm(argv, values, mutates=False, cwd=root, quiet=True)
    docs = tuple(d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict))
    return Rendered(chart.name, env, docs, result.stdout)


def validate(rendered: Rendered) -> list[Invalid]:
    """Each manifest checked against the (strict) Kubernetes schema of KUBERNETES_VERSION."""
    # Imported here: loading the schemas' validators takes about a second, which listing
    # or parsing tasks must not pay.
    import kubernetes_validate

    found = []
    for doc in rendered.manifests:
        kind = str(doc.get("kind", "?"))
        name = str((doc.get("metadata") or {}).get("name", "?"))
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "(root)"
            found.append(
                Invalid(rendered.chart, rendered.env, kind, name, f"{where}: {exc.message}")
            )
        except kubernetes_validate.SchemaNotFoundError as exc:
            found.append(Invalid(rendered.chart, rendered.env, kind, name, exc.message))
    return found


# -- package and push ------------------------------------------------------------------------


def package(
    root: Path,
    version: str | None = None,
    chart: str | None = None,
    *,
    epoch: int | None = None,
    folder: Path | None = None,
) -> list[Path]:
    """Package every chart into dist/<version>/charts/ with version = appVersion = release.

    Without ``version`` each chart keeps the ``version`` and ``appVersion`` of its Chart.yaml
    (policy independent: a chart's own version). ``folder`` names the release's folder
    instead (``<folder>/charts/``).

    The archives are reproducible: helm packages into a scratch folder and ``normalise``
    rewrites each archive with every entry stamped ``epoch`` (default: SOURCE_DATE_EPOCH,
    else the commit time of HEAD), so the same chart packages to the same sha256 on any
    checkout, whatever the files' times.
    """
    when = epoch_of(root) if epoch is None else epoch
    archives = []
    for c in find_charts(root, chart):
        v = version or c.version
        dest = (folder or root / "dist" / v) / "charts"
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="releasekit-package-") as tmp:
            run_helm(package_argv(c.path, version, Path(tmp)), cwd=root)
            name = f"{c.name}-{v}.tgz"
            files.write_bytes(dest / name, normalise(Path(tmp) / name, when), mode=0o644)
        archives.append(dest / name)
    return archives


def push(archive: Path, registry: str) -> Pushed:
    """Push one archive unless the registry holds that version: same bytes skip, other fail."""
    name, version = archive_meta(archive)
    ref = f"{chart_repo(registry)}/{name}:{version}"
    with tempfile.TemporaryDirectory(prefix="releasekit-chart-") as tmp:
        pulled = run_helm(pull_argv(registry, name, version, Path(tmp)), check=False, mutates=False)
        there = Path(tmp) / f"{name}-{version}.tgz"
        if pulled.returncode == 0 and there.is_file():
            theirs, ours = contents(there), contents(archive)
            if sha256(there) == sha256(archive):
                return Pushed(name, version, ref, "skipped (identical content already there)")
            if theirs == ours:
                raise ConflictError(
                    f"{ref} holds the same files as {archive} but another archive (sha256 "
                    f"{sha256(there)}, this one {sha256(archive)}): it was packaged with other "
                    "file times or order, by a toolkit that did not package reproducibly. A "
                    "published chart version is immutable and its signature names its archive: "
                    f"release a new version (`invoke version.bump`)."
                )
            changed = sorted(k for k in {*theirs, *ours} if theirs.get(k) != ours.get(k))
            raise ConflictError(
                f"{ref} already exists with different content (differs in: "
                f"{', '.join(changed)}). A published chart version is immutable: bump the "
                f"version (`invoke version.bump`) instead of pushing {archive.name} again."
            )
        if "not found" not in (pulled.stderr + pulled.stdout).lower():
            raise ToolError(
                pulled.argv,
                pulled.returncode,
                pulled.stderr,
                f"Cannot ask {ref} whether it exists.",
            )
    run_helm(push_argv(archive, registry))
    return Pushed(name, version, ref, "pushed")
