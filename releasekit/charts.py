"""Helm charts: lint, render and schema-validate, package, push to OCI, deploy, roll back.

Every helm call is an argument list built by a ``*_argv`` function and run once through
``releasekit.run``. Charts live in ``helm/<chart>/`` with one ``values-<env>.yaml`` per
environment; rendered manifests are validated offline against the Kubernetes JSON schemas
of ``KUBERNETES_VERSION`` (``kubernetes-validate``).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from releasekit.doctor import TOOLS
from releasekit.errors import ConflictError, ManifestError, ToolError
from releasekit.run import Result, redact, require_tool, run

__all__ = [
    "ENVIRONMENTS",
    "KUBERNETES_VERSION",
    "Chart",
    "Deployed",
    "Invalid",
    "Pushed",
    "Rendered",
    "chart_repo",
    "check_env",
    "deploy",
    "deploy_argvs",
    "find_charts",
    "history",
    "history_argv",
    "image_pins",
    "image_sets",
    "lint",
    "lint_argv",
    "package",
    "package_argv",
    "plain_http",
    "pull_argv",
    "push",
    "push_argv",
    "render",
    "rollback",
    "rollback_argv",
    "template_argv",
    "upgrade_argv",
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
class Deployed:
    """One release deployed (or dry-run): its argv, helm's output, and how it was rendered."""

    release: str
    argv: tuple[str, ...]
    output: str
    note: str = ""


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
    hint = next(t.install for t in TOOLS if t.name == "helm")
    require_tool("helm", hint)


def find_charts(root: Path, only: str | None = None) -> list[Chart]:
    """Every chart under ``root/helm`` (or just ``only``), sorted by name."""
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


def package_argv(chart: Path, version: str, dest: Path) -> list[str]:
    return [
        "helm", "package", str(chart), "--version", version, "--app-version", version,
        "--destination", str(dest),
    ]  # fmt: skip


def push_argv(archive: Path, registry: str) -> list[str]:
    return ["helm", "push", str(archive), chart_repo(registry), *_tls(registry)]


def pull_argv(registry: str, chart: str, version: str, dest: Path) -> list[str]:
    ref = f"{chart_repo(registry)}/{chart}"
    return ["helm", "pull", ref, "--version", version, "--destination", str(dest), *_tls(registry)]


def upgrade_argv(
    release: str,
    chart_ref: str,
    namespace: str,
    values: Path,
    sets: list[str],
    version: str | None = None,
    dry_run: bool = False,
    plain: bool = False,
) -> list[str]:
    argv = ["helm", "upgrade", "--install", release, chart_ref]
    if version is not None:
        argv += ["--version", version]
    argv += ["--namespace", namespace, "--create-namespace", "--atomic", "--wait"]
    argv += ["--timeout", "5m", "-f", str(values)]
    for item in sets:
        argv += ["--set", item]
    if plain:
        argv.append("--plain-http")
    if dry_run:
        argv.append("--dry-run=client")
    return argv


def rollback_argv(release: str, namespace: str, revision: int | None = None) -> list[str]:
    argv = ["helm", "rollback", release]
    if revision is not None:
        argv.append(str(revision))
    return [*argv, "--namespace", namespace, "--wait"]


def history_argv(release: str, namespace: str) -> list[str]:
    return ["helm", "history", release, "--namespace", namespace, "-o", "json"]


# -- lint and render -------------------------------------------------------------------------


def _helm(argv: list[str], values: Path | None = None, check: bool = True, **kwargs: Any) -> Result:
    """Run one helm command; its failure carries helm's findings and names a bad values file.

    ``helm lint`` reports on stdout and only sums up on stderr, so both are kept.
    """
    _require_helm()
    result = run(argv, check=False, **kwargs)
    if result.returncode == 0 or not check or result.dry_run:
        return result
    lines = [*result.stdout.strip().splitlines(), *result.stderr.strip().splitlines()]
    tail = redact("\n".join(line for line in lines if line.strip())[-4000:])
    hint = ""
    if "cluster unreachable" in tail:
        hint = (
            "No Kubernetes cluster answers: point KUBECONFIG (or the current kube context) at "
            "the cluster of this environment."
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
            _helm(lint_argv(c.path, c.values(env)), c.values(env), mutates=False, cwd=root)
            count += 1
    return count


def render(root: Path, env: str, chart: Chart, sets: list[str] | None = None) -> Rendered:
    """``helm template`` one chart for one environment (release = chart name)."""
    values = chart.values(env)
    argv = template_argv(chart.name, chart.path, f"ironcage-{env}", values, sets)
    result = _helm(argv, values, mutates=False, cwd=root, quiet=True)
    docs = tuple(d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict))
    return Rendered(chart.name, env, docs, result.stdout)


def validate(rendered: Rendered) -> list[Invalid]:
    """Each manifest checked against the (strict) Kubernetes schema of KUBERNETES_VERSION."""
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


def package(root: Path, version: str | None = None, chart: str | None = None) -> list[Path]:
    """Package every chart into dist/<version>/charts/ with version = appVersion = release."""
    archives = []
    for c in find_charts(root, chart):
        v = version or c.version
        dest = Path("dist") / v / "charts"
        (root / dest).mkdir(parents=True, exist_ok=True)
        _helm(package_argv(c.path, v, dest), cwd=root)
        archives.append(root / dest / f"{c.name}-{v}.tgz")
    return archives


def _archive_meta(archive: Path) -> tuple[str, str]:
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/Chart.yaml"):
                handle = tar.extractfile(member)
                if handle is not None:
                    meta = yaml.safe_load(handle.read()) or {}
                    return str(meta["name"]), str(meta["version"])
    raise ManifestError(f"{archive} holds no Chart.yaml: it is not a chart archive.")


def _contents(archive: Path) -> dict[str, str]:
    """File name -> sha256 of every file in a chart archive (timestamps ignored)."""
    result = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                result[member.name] = hashlib.sha256(handle.read()).hexdigest()
    return result


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def push(archive: Path, registry: str) -> Pushed:
    """Push one archive unless the registry holds that version: same content skips, other fails."""
    name, version = _archive_meta(archive)
    ref = f"{chart_repo(registry)}/{name}:{version}"
    with tempfile.TemporaryDirectory(prefix="releasekit-chart-") as tmp:
        pulled = _helm(pull_argv(registry, name, version, Path(tmp)), check=False, mutates=False)
        there = Path(tmp) / f"{name}-{version}.tgz"
        if pulled.returncode == 0 and there.is_file():
            theirs, ours = _contents(there), _contents(archive)
            if _sha256(there) == _sha256(archive) or theirs == ours:
                return Pushed(name, version, ref, "skipped (identical content already there)")
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
    _helm(push_argv(archive, registry))
    return Pushed(name, version, ref, "pushed")


# -- deploy ----------------------------------------------------------------------------------


def _image_keys(values: Any, prefix: str = "") -> dict[str, str]:
    """Image name -> values path of its ``image`` block (``api.image``), from values.yaml."""
    found: dict[str, str] = {}
    if not isinstance(values, dict):
        return found
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key == "image" and isinstance(value, dict) and isinstance(value.get("repository"), str):
            found[value["repository"].rsplit("/", 1)[-1]] = path
        found.update(_image_keys(value, f"{path}."))
    return found


def image_pins(images_json: Path) -> dict[str, tuple[str, str]]:
    """Image name -> (pushed repository or "", sha256 digest) from dist/<version>/images.json.

    Accepted shapes: ``{"images": [{"name", "repository", "digest"}, ...]}``, or a mapping of
    name to such an object or to a ``repository@sha256:...`` reference.
    """
    data = json.loads(images_json.read_text(encoding="utf-8"))
    entries: list[tuple[str, Any]] = []
    if isinstance(data, dict) and isinstance(data.get("images"), list):
        entries = [(str(e.get("name", "")), e) for e in data["images"] if isinstance(e, dict)]
    elif isinstance(data, dict):
        entries = [(str(k), v) for k, v in (data.get("images") or data).items()]
    pins = {}
    for name, entry in entries:
        if isinstance(entry, str):
            entry = {"reference": entry}
        if not isinstance(entry, dict):
            continue
        ref = str(entry.get("reference") or entry.get("ref") or "")
        repo = str(entry.get("repository") or ref.split("@", 1)[0])
        digest = str(entry.get("digest") or (ref.split("@", 1)[1] if "@" in ref else ""))
        if digest.startswith("sha256:") and name:
            pins[name.rsplit("/", 1)[-1]] = (repo.split("@", 1)[0], digest)
    return pins


def image_sets(chart: Chart, images_json: Path | None, registry: str | None) -> list[str]:
    """``--set`` values pinning the chart's images to their released digests and registry.

    ``registry`` is ``HOST[:PORT][/NAMESPACE]``; without it, the host and path each image was
    pushed to (images.json) are used. A repository differing from the chart's default (another
    namespace) is set too, so the reference always names where the image really is.
    """
    defaults = yaml.safe_load((chart.dir / "values.yaml").read_text(encoding="utf-8")) or {}
    pins = image_pins(images_json) if images_json is not None and images_json.is_file() else {}
    host, _, namespace = (registry or "").strip("/").partition("/")
    sets: list[str] = []
    for image, key in sorted(_image_keys(defaults).items()):
        path = f"{namespace}/{image}" if namespace else ""
        if image in pins:
            pushed, digest = pins[image]
            sets.append(f"{key}.digest={digest}")
            pushed_host, _, pushed_path = pushed.partition("/")
            if "." in pushed_host or ":" in pushed_host or pushed_host == "localhost":
                host = host or pushed_host
                path = path or pushed_path
        if path and path != _lookup(defaults, f"{key}.repository"):
            sets.append(f"{key}.repository={path}")
    if host:
        sets.insert(0, f"image.registry={host}")
    return sets


def _lookup(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def deploy_argvs(
    root: Path,
    env: str,
    version: str | None = None,
    chart_registry: str | None = None,
    image_registry: str | None = None,
    namespace: str | None = None,
    dry_run: bool = False,
    only: str | None = None,
) -> list[list[str]]:
    """One ``helm upgrade --install`` per chart, images pinned from dist/<version>/images.json."""
    check_env(env)
    argvs = []
    for c in find_charts(root, only):
        v = version or c.version
        ref = f"{chart_repo(chart_registry)}/{c.name}" if chart_registry else str(c.path)
        sets = image_sets(c, root / "dist" / v / "images.json", image_registry)
        argvs.append(
            upgrade_argv(
                c.name,
                ref,
                namespace or f"ironcage-{env}",
                c.values(env),
                sets,
                version=v if chart_registry else None,
                dry_run=dry_run,
                plain=bool(chart_registry) and plain_http(chart_registry or ""),
            )
        )
    return argvs


def deploy(argvs: list[list[str]], root: Path) -> list[Deployed]:
    """Run each ``helm upgrade --install``; a dry run without a cluster renders offline instead.

    helm needs a reachable cluster even for ``--dry-run=client``; when none answers, the same
    chart, values and ``--set`` flags are rendered with ``helm template``, so the dry run
    still proves the release renders, and the note says so.
    """
    done = []
    for argv in argvs:
        dry = "--dry-run=client" in argv
        result = _helm(argv, _values_of(argv), cwd=root, check=not dry, mutates=not dry)
        note = ""
        if dry and result.returncode != 0:
            if "cluster unreachable" not in result.stderr:
                raise ToolError(result.argv, result.returncode, result.stderr)
            result = _helm(_offline_argv(argv), _values_of(argv), cwd=root, mutates=False)
            note = "no cluster reachable, so helm template rendered the same chart and values"
        done.append(Deployed(argv[3], tuple(argv), result.stdout, note))
    return done


def _values_of(argv: list[str]) -> Path | None:
    return Path(argv[argv.index("-f") + 1]) if "-f" in argv else None


def _offline_argv(argv: list[str]) -> list[str]:
    """The ``helm template`` equivalent of an ``upgrade --install`` argv."""
    release, ref = argv[3], argv[4]
    rest = argv[5:]
    keep: list[str] = []
    i = 0
    while i < len(rest):
        flag = rest[i]
        if flag in ("--version", "--namespace", "-f", "--set"):
            keep += [flag, rest[i + 1]]
            i += 2
            continue
        if flag == "--plain-http":
            keep.append(flag)
        i += 1
    return ["helm", "template", release, ref, *keep, "--kube-version", KUBERNETES_VERSION]


def rollback(
    root: Path, env: str, revision: int | None = None, namespace: str | None = None,
    only: str | None = None,
) -> list[Result]:  # fmt: skip
    """``helm rollback`` every chart's release of ``env`` (to ``revision``, or the previous)."""
    ns = namespace or f"ironcage-{check_env(env)}"
    return [_helm(rollback_argv(c.name, ns, revision), cwd=root) for c in find_charts(root, only)]


def history(
    root: Path, env: str, namespace: str | None = None, only: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Release name -> its revisions (``helm history -o json``) in ``env``."""
    ns = namespace or f"ironcage-{check_env(env)}"
    found = {}
    for c in find_charts(root, only):
        result = _helm(history_argv(c.name, ns), cwd=root, mutates=False)
        found[c.name] = json.loads(result.stdout or "[]")
    return found
