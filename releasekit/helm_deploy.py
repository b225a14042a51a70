"""Helm releases: images pinned by digest, ``helm upgrade --install``, roll back, history.

A release is one chart of ``releasekit.charts`` installed into namespace ``ironcage-<env>``
with its ``values-<env>.yaml``, its images pinned to the digests of
``dist/<version>/images.json``. Every helm call goes through ``charts.run_helm``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from releasekit.charts import (
    KUBERNETES_VERSION,
    Chart,
    chart_repo,
    check_env,
    find_charts,
    plain_http,
    run_helm,
)
from releasekit.errors import ToolError
from releasekit.run import Result

__all__ = [
    "Deployed",
    "deploy",
    "deploy_argvs",
    "history",
    "history_argv",
    "image_pins",
    "image_sets",
    "rollback",
    "rollback_argv",
    "upgrade_argv",
]


@dataclass(frozen=True)
class Deployed:
    """One release deployed (or dry-run): its argv, helm's output, and how it was rendered."""

    release: str
    argv: tuple[str, ...]
    output: str
    note: str = ""


# -- argv builders ---------------------------------------------------------------------------


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


# -- image pins ------------------------------------------------------------------------------


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


# -- deploy, roll back, history --------------------------------------------------------------


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
        result = run_helm(argv, _values_of(argv), cwd=root, check=not dry, mutates=not dry)
        note = ""
        if dry and result.returncode != 0:
            if "cluster unreachable" not in result.stderr:
                raise ToolError(result.argv, result.returncode, result.stderr)
            result = run_helm(_offline_argv(argv), _values_of(argv), cwd=root, mutates=False)
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
    return [
        run_helm(rollback_argv(c.name, ns, revision), cwd=root) for c in find_charts(root, only)
    ]


def history(
    root: Path, env: str, namespace: str | None = None, only: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Release name -> its revisions (``helm history -o json``) in ``env``."""
    ns = namespace or f"ironcage-{check_env(env)}"
    found = {}
    for c in find_charts(root, only):
        result = run_helm(history_argv(c.name, ns), cwd=root, mutates=False)
        found[c.name] = json.loads(result.stdout or "[]")
    return found
