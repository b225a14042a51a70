"""Helm releases on a cluster: deploy every chart at one version, roll back, history.

A release is one chart of ``releasekit.publish.charts`` installed into the namespace of a
Kubernetes environment (``releasekit.deploy.kube_env``) with its ``values-<helm>.yaml`` and its
images pinned to the digests of ``dist/<version>/images.json``. Helm 4 does the work:
server-side apply, ``--rollback-on-failure`` and ``--wait=watcher``, so a chart whose
rollout fails returns to its previous revision by itself. A deploy of several charts that
fails half-way rolls back the charts it had already upgraded, so every chart ends at the
version it had before. Every helm call goes through ``charts.run_helm``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from releasekit.core import manifest
from releasekit.core.errors import PublishError, ReleaseError, ToolError
from releasekit.deploy import cluster, helm_release
from releasekit.deploy.helm_pins import check_pins, image_pins, image_sets, user_values
from releasekit.deploy.kube_env import KubeEnv
from releasekit.publish.charts import chart_repo, find_charts, plain_http, run_helm
from releasekit.publish.trust import Trust

__all__ = [
    "DEFAULT_TIMEOUT",
    "Outcome",
    "Upgrade",
    "deploy",
    "history",
    "history_argv",
    "image_pins",
    "plan",
    "rollback",
    "rollback_argv",
    "upgrade_argv",
]

DEFAULT_TIMEOUT = "5m"
DryRun = Literal["client", "server"]
Status = Literal["deployed", "unchanged", "failed", "rolled back", "not attempted", "dry run"]


@dataclass(frozen=True)
class Upgrade:
    """One planned ``helm upgrade --install``: the release, its version and argv."""

    release: str
    version: str
    argv: tuple[str, ...]
    values: Path
    sets: tuple[str, ...]
    chart: str


@dataclass(frozen=True)
class Outcome:
    """What a deploy or rollback did to one release; versions are app versions."""

    release: str
    previous: str | None
    target: str
    status: Status
    now: str | None
    revision: int | None = None
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


# -- argv builders ---------------------------------------------------------------------------


def upgrade_argv(
    release: str,
    chart_ref: str,
    namespace: str,
    values: Path,
    sets: list[str],
    version: str | None = None,
    dry_run: DryRun | None = None,
    plain: bool = False,
    timeout: str = DEFAULT_TIMEOUT,
) -> list[str]:
    """``helm upgrade --install`` with Helm 4's server-side apply, wait and auto-rollback."""
    argv = ["helm", "upgrade", "--install", release, chart_ref]
    if version is not None:
        argv += ["--version", version]
    argv += ["--namespace", namespace, "--create-namespace", "--server-side=true"]
    argv += ["--force-conflicts", "--rollback-on-failure", "--wait=watcher"]
    argv += ["--timeout", timeout, "-f", str(values)]
    for item in sets:
        argv += ["--set", item]
    if plain:
        argv.append("--plain-http")
    if dry_run is not None:
        argv.append(f"--dry-run={dry_run}")
    return argv


def rollback_argv(
    release: str, namespace: str, revision: int | None = None, timeout: str = DEFAULT_TIMEOUT
) -> list[str]:
    """``helm rollback`` to ``revision`` (helm's default: the one before the current)."""
    argv = ["helm", "rollback", release]
    if revision is not None:
        argv.append(str(revision))
    return [*argv, "--namespace", namespace, "--server-side=true", "--force-conflicts",
            "--wait=watcher", "--timeout", timeout]  # fmt: skip


def _values_argv(release: str, namespace: str) -> list[str]:
    return ["helm", "get", "values", release, "--namespace", namespace, "-o", "json"]


# -- reading releases ------------------------------------------------------------------------

_revisions = helm_release.revisions
_current = helm_release.current
_version_of = helm_release.version_of
_no_cluster = helm_release.no_cluster
history_argv = helm_release.history_argv


def _require_cluster(env: KubeEnv) -> None:
    """For the local cluster: PreflightError telling how to start it when it is down."""
    if env.local_root is not None:
        cluster.running(env.local_root)


# -- deploy ---------------------------------------------------------------------------------


def plan(
    root: Path,
    env: KubeEnv,
    version: str | None = None,
    chart_registry: str | None = None,
    image_registry: str | None = None,
    dry_run: DryRun | None = None,
    only: str | None = None,
    timeout: str = DEFAULT_TIMEOUT,
) -> list[Upgrade]:
    """One ``helm upgrade --install`` per chart, images pinned from dist/<version>/images.json."""
    upgrades = []
    released = _released(root)
    for c in find_charts(root, only):
        v = version or c.version
        ref = f"{chart_repo(chart_registry)}/{c.name}" if chart_registry else str(c.path)
        sets = image_sets(c, root / "dist" / v / "images.json", image_registry, released)
        argv = upgrade_argv(
            c.name, ref, env.namespace, c.values(env.values), sets,
            version=v if chart_registry else None, dry_run=dry_run,
            plain=bool(chart_registry) and plain_http(chart_registry or ""), timeout=timeout,
        )  # fmt: skip
        upgrades.append(Upgrade(c.name, v, tuple(argv), c.values(env.values), tuple(sets), c.name))
    return upgrades


def _released(root: Path) -> frozenset[str] | None:
    """The images the monorepo releases (release.toml), None without a manifest."""
    if not (root / manifest.MANIFEST_NAME).is_file():
        return None
    return frozenset(image for pkg in manifest.load(root).packages for image in pkg.images)


def _unchanged(root: Path, env: KubeEnv, up: Upgrade, current: dict[str, Any] | None) -> bool:
    """True when the release runs this chart version with exactly these values already."""
    if current is None or _version_of(current) != up.version:
        return False
    if str(current.get("chart")) != f"{up.chart}-{up.version}":
        return False
    live = run_helm(
        _values_argv(up.release, env.namespace), mutates=False, quiet=True, env=env.kube.env()
    )
    return bool(json.loads(live.stdout or "null") == user_values(root / up.values, list(up.sets)))


def _restore(env: KubeEnv, release: str, revision: dict[str, Any] | None, timeout: str) -> str:
    """Return ``release`` to ``revision`` (uninstall it when it had none); what was done."""
    if revision is None:
        argv = ["helm", "uninstall", release, "--namespace", env.namespace, "--wait"]
        run_helm(argv, env=env.kube.env())
        return "uninstalled (it had no earlier version)"
    argv = rollback_argv(release, env.namespace, int(revision["revision"]), timeout)
    run_helm(argv, env=env.kube.env())
    return f"rolled back to {_version_of(revision)} (revision {revision['revision']})"


def deploy(
    root: Path,
    env: KubeEnv,
    upgrades: list[Upgrade],
    say: Callable[[str], None] | None = None,
    *,
    trust: Trust | None = None,
) -> list[Outcome]:
    """Run the upgrades in order; on a failure, every chart returns to its previous version.

    A release that already runs the same chart version with the same values is left alone.
    A release a killed helm left pending is first recovered (``_recover``), and ``say`` is
    told so. A dry run (``--dry-run=server``) asks the API server to validate without
    changing it. With ``trust``, every image digest pinned is verified against the release
    key first.
    """
    _require_cluster(env)
    if trust is not None:
        check_pins(root, [(up.values, up.sets) for up in upgrades], trust, _released(root))
    done: list[Outcome] = []
    before: dict[str, dict[str, Any] | None] = {}
    for index, up in enumerate(upgrades):
        dry = any(a.startswith("--dry-run=") for a in up.argv)
        revisions = _revisions(env, up.release)
        recovered = ""
        if not dry and revisions and revisions[-1].get("status") in helm_release.PENDING:
            recovered = _recover(env, up.release, revisions, _timeout_of(up))
            if say is not None:
                say(f"{up.release}: {recovered}")
            revisions = _revisions(env, up.release)
        current = _current(revisions)
        before[up.release] = current
        previous = _version_of(current)
        if dry:
            result = run_helm(list(up.argv), up.values, cwd=root, mutates=False,
                              env=env.kube.env())  # fmt: skip
            done.append(Outcome(up.release, previous, up.version, "dry run", previous,
                                detail=result.stdout))  # fmt: skip
            continue
        if _unchanged(root, env, up, current):
            rev = int(current["revision"]) if current else None
            done.append(Outcome(up.release, previous, up.version, "unchanged", previous, rev,
                                recovered))  # fmt: skip
            continue
        try:
            run_helm(list(up.argv), up.values, cwd=root, env=env.kube.env())
        except ReleaseError as exc:
            after = _revisions(env, up.release)
            failed = Outcome(up.release, previous, up.version, "failed",
                             _version_of(_current(after)), detail=_reason(exc))  # fmt: skip
            state = helm_release.state_after_failure(after, current, previous)
            raise _half_way(env, upgrades[index + 1 :], done, failed, state, before) from None
        now = _current(_revisions(env, up.release))
        rev = int(now["revision"]) if now else None
        done.append(Outcome(up.release, previous, up.version, "deployed", _version_of(now), rev,
                            recovered))  # fmt: skip
    return done


def _timeout_of(up: Upgrade) -> str:
    argv = list(up.argv)
    return argv[argv.index("--timeout") + 1] if "--timeout" in argv else DEFAULT_TIMEOUT


def _recover(env: KubeEnv, release: str, revisions: list[dict[str, Any]], timeout: str) -> str:
    """Return a release a helm that died left pending to its last good revision; what was done.

    No helm of the toolkit can still be working on it: every deploy holds the release lock.
    A release that never ran a revision is uninstalled. What is said is read back from helm.
    """
    last = revisions[-1]
    what = f"revision {last['revision']} was left {last['status']} by a helm that did not finish"
    good = helm_release.last_good(revisions)
    _restore(env, release, good, timeout)
    now = _current(_revisions(env, release))
    if now is None:
        return f"{what}; it had no deployed revision, so it was uninstalled before the upgrade"
    return (
        f"{what}; rolled back to {_version_of(now)} (revision {good['revision'] if good else '?'}"
        f", now revision {now['revision']} deployed) before the upgrade"
    )


def _reason(exc: ReleaseError) -> str:
    text = exc.stderr_tail if isinstance(exc, ToolError) else str(exc)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    code = exc.returncode if isinstance(exc, ToolError) else None
    killed = [f"helm was killed by signal {-code}"] if code is not None and code < 0 else []
    return " ".join([*killed, *lines[-3:]])[:600] or "helm gave no reason"


def _half_way(
    env: KubeEnv,
    rest: list[Upgrade],
    done: list[Outcome],
    failed: Outcome,
    state: str,
    before: dict[str, dict[str, Any] | None],
) -> PublishError:
    """Undo the charts upgraded before ``failed``; the error names every chart's end state,
    as helm reports it once the failure is over."""
    timeout = DEFAULT_TIMEOUT
    outcomes = []
    for item in done:
        if item.status != "deployed":
            outcomes.append(item)
            continue
        try:
            what = _restore(env, item.release, before.get(item.release), timeout)
        except ReleaseError as exc:
            what = f"rolling it back failed: {_reason(exc)}"
        now = _version_of(_current(_revisions(env, item.release)))
        outcomes.append(Outcome(item.release, item.previous, item.target, "rolled back", now,
                                detail=what))  # fmt: skip
    outcomes.append(failed)
    for u in rest:
        now = _version_of(_current(_revisions(env, u.release)))
        outcomes.append(Outcome(u.release, now, u.version, "not attempted", now))
    lines = [
        f"- {o.release}: {o.status}; now at {o.now or 'nothing (not installed)'}"
        f"{_last_revision(env, o.release)}"
        f"{f' ({o.detail})' if o.detail and o.status != 'failed' else ''}"
        for o in outcomes
    ]
    same = all(o.now == o.previous for o in outcomes)
    return PublishError(
        f"Deploying {failed.target} to {env.describe()} failed at {failed.release}, {state}. "
        f"helm said: {failed.detail}\n"
        + ("Every chart is at its previous version" if same else "Each chart now, as helm says")
        + ":\n"
        + "\n".join(lines)
    )


def _last_revision(env: KubeEnv, release: str) -> str:
    """`` (revision N pending-upgrade)`` when the last revision is not the deployed one."""
    revisions = _revisions(env, release)
    if not revisions or revisions[-1].get("status") == "deployed":
        return ""
    return f" (revision {revisions[-1]['revision']} {revisions[-1]['status']})"


# -- roll back and history -------------------------------------------------------------------


def _target(revisions: list[dict[str, Any]], to: str | None) -> dict[str, Any] | None:
    """The revision to return to: the newest that ran ``to``, or the last other version."""
    current = _current(revisions)
    now = _version_of(current)
    for rev in reversed(revisions):
        if current is not None and rev["revision"] >= current["revision"]:
            continue
        if rev.get("status") not in ("superseded", "deployed"):
            continue
        version = _version_of(rev)
        if (to is not None and version == to) or (to is None and version != now):
            return dict(rev)
    return None


def rollback(
    root: Path, env: KubeEnv, to: str | None = None, only: str | None = None,
    timeout: str = DEFAULT_TIMEOUT,
) -> list[Outcome]:  # fmt: skip
    """Return each chart's release to version ``to`` (default: its previous version)."""
    _require_cluster(env)
    plans = []
    for c in find_charts(root, only):
        revisions = _revisions(env, c.name)
        current = _current(revisions)
        target = _target(revisions, to)
        if target is None:
            history_of = ", ".join(
                f"{r['revision']}:{r.get('app_version')}({r.get('status')})" for r in revisions
            )
            raise PublishError(
                f"{c.name} in {env.describe()} has no earlier "
                f"{f'revision at version {to}' if to else 'version'} to return to (history: "
                f"{history_of or 'never installed'}). See `invoke helm.history --env {env.name}`."
            )
        plans.append((c.name, current, target))
    outcomes = []
    for name, current, target in plans:
        run_helm(rollback_argv(name, env.namespace, int(target["revision"]), timeout),
                 env=env.kube.env())  # fmt: skip
        now = _current(_revisions(env, name))
        outcomes.append(Outcome(
            name, _version_of(current), str(_version_of(target)), "rolled back", _version_of(now),
            int(now["revision"]) if now else None,
            f"to revision {target['revision']}",
        ))  # fmt: skip
    return outcomes


def history(root: Path, env: KubeEnv, only: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Release name -> its revisions (``helm history -o json``), oldest first."""
    _require_cluster(env)
    return {c.name: _revisions(env, c.name) for c in find_charts(root, only)}
