"""Deploy by commit: an environment's desired state in git, converged by Flux.

``release`` pins every chart of a release (chart digest in the registry, image digests from
``dist/<release>/images.json``), checks each digest's signature by the release key, commits
``clusters/<env>/`` with a message naming the release, pushes, and waits until Flux applied
that commit and every HelmRelease is Ready at its chart's version. A lockstep release runs
every chart at its version; a partial independent release runs each chart at its package's
version (released, else last released) with every image, kept ones included, pinned by the
release's images.json. ``promote`` copies exactly what one environment runs, each chart's
version and every digest (read back from its ``desired.json``), into another as one commit,
after checking that the source really runs it; nothing is rebuilt and no digest changes.
``rollback`` is a commit too: the environment's folder as it was before its last change, or
as it was when it ran a named version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from releasekit.core import manifest
from releasekit.core.artifact import IMAGES_FILE, read_images
from releasekit.core.errors import PreflightError, PublishError
from releasekit.deploy import cluster, git_http, gitops_flux, gitops_pr
from releasekit.deploy.gitops_env import GitOpsEnv
from releasekit.deploy.gitops_layout import DESIRED_FILE, ChartPin, Desired, read, render
from releasekit.deploy.gitops_repo import Checkout, checkout
from releasekit.deploy.helm_pins import chart_images, image_sets, pinned_refs
from releasekit.publish import oci
from releasekit.publish.charts import Chart, chart_repo, find_charts
from releasekit.publish.trust import Trust, verify_images

__all__ = [
    "DEFAULT_TIMEOUT", "Applied", "Outcome", "desired_of", "plan", "promote", "release",
    "repository_url", "rollback", "verify",
]  # fmt: skip

DEFAULT_TIMEOUT = 300.0
Say = Callable[[str], None]


@dataclass(frozen=True)
class Applied:
    """A desired state committed and converged: the commit, the version, what Flux reports."""

    env: str
    commit: str
    version: str
    observed: gitops_flux.Observed
    changed: bool = True


Outcome = Applied | gitops_pr.Proposal
"""Converged in the cluster, or (``pull_request``) proposed as a pull request."""


def repository_url(root: Path, env: GitOpsEnv) -> str:
    """The URL the toolkit pushes to and Flux fetches from."""
    return git_http.url(git_http.running(root)) if env.sandbox else env.repository


def _require_flux(env: GitOpsEnv) -> None:
    """For the local cluster: every Flux controller answers, else how to start them."""
    if env.local_root is None:
        return
    state = cluster.status(env.local_root)
    down = [c.name for c in state.components if not c.alive]
    if down:
        raise PreflightError(
            f"{', '.join(down)} of the local cluster {'is' if len(down) == 1 else 'are'} not "
            f"running, so nothing would apply the desired state of {env.name}: start "
            f"{'it' if len(down) == 1 else 'them'} with `invoke cluster.up` (logs in "
            f"{state.home / 'logs'})."
        )


def _released(root: Path) -> frozenset[str]:
    return frozenset(i for p in manifest.load(root).packages for i in p.images)


def _check_partial(
    root: Path, charts: list[Chart], release: str, versions: Mapping[str, str], images: Path
) -> None:
    """A partial release names every chart's version and lists every image, kept ones too."""
    if not images.is_file():
        raise PublishError(
            f"{images} is missing: a deploy of {release} pins every image from it, the kept "
            "ones at their last release's digests. Publish the release's images first "
            "(`invoke release --resume`)."
        )
    listed = {name.rsplit("/", 1)[-1] for name in read_images(images)}
    ours = _released(root)
    for chart in charts:
        if chart.name not in versions:
            raise PublishError(
                f"Chart {chart.name} ({chart.path}) has no released version to deploy with "
                f"{release}: its package was never released. Release it too "
                "(`invoke release --package PACKAGE --part patch`)."
            )
        unpinned = [i for i in chart_images(chart) if i in ours and i not in listed]
        if unpinned:
            raise PublishError(
                f"{images} lists no digest of {', '.join(unpinned)} (chart {chart.name}), so "
                f"{release} would run it unpinned: a partial release lists every image, the "
                "kept ones at their last release's digests. Publish the release's images "
                "again (`invoke release --resume`)."
            )


def plan(
    root: Path, version: str, chart_registry: str, image_registry: str | None,
    access: oci.Access, versions: Mapping[str, str] | None = None,
) -> Desired:  # fmt: skip
    """Every chart pinned: its digest in ``chart_registry`` and its images' digests from
    ``dist/<version>/images.json``.

    Each chart runs at ``version``, or with ``versions`` (chart -> version: a partial
    independent release, ``version`` its release id) at its own. PublishError names a chart
    without a version or not in the registry, a missing images.json and an image it lacks.
    """
    pins = []
    images = root / "dist" / version / IMAGES_FILE
    charts = find_charts(root)
    if versions is not None:
        _check_partial(root, charts, version, versions, images)
    for chart in charts:
        at = version if versions is None else versions[chart.name]
        url = f"{chart_repo(chart_registry)}/{chart.name}"
        host, path = oci.split_ref(url)
        found = oci.fetch_manifest(host, path, at, access)
        if found is None:
            raise PublishError(
                f"Chart {chart.name} {at} is not in {url}: publish the release first "
                "(`invoke release`), or pass the chart registry that holds it."
            )
        sets = image_sets(chart, images, image_registry, _released(root))
        pins.append(ChartPin(chart.name, url, at, found.digest, tuple(sets)))
    return Desired(version, tuple(pins))


def verify(root: Path, env: GitOpsEnv, desired: Desired, trust: Trust, say: Say) -> None:
    """Every digest ``desired`` pins (charts and the release's images) signed by the key."""
    charts = {c.name: c for c in find_charts(root)}
    refs: dict[str, str] = {}
    for pin in desired.charts:
        refs[f"chart {pin.name}"] = f"{pin.url.removeprefix('oci://')}@{pin.digest}"
        values = charts[pin.name].values(env.values)
        refs |= pinned_refs(values.parent, values, pin.sets, _released(root))
    verify_images(refs, trust, say)


def _public_key(trust: Trust) -> str:
    if trust.public is None:
        raise PreflightError(
            f"Target `{trust.target}` releases unsigned, but GitOps environments have Flux "
            "check every chart's signature: set `signing_key_env` on the target, or pass the "
            "release's public key with --key."
        )
    return trust.public.read_text(encoding="ascii")


def _body(desired: Desired) -> str:
    """A partial release's commit names each chart's version below its subject."""
    if not desired.partial():
        return ""
    return "\n\n" + "\n".join(f"{c.name} {c.version}" for c in desired.charts)


def _open(root: Path, env: GitOpsEnv, pull_request: bool = False) -> tuple[Checkout, str]:
    if pull_request:
        gitops_pr.github_repository(env)
    _require_flux(env)
    url = repository_url(root, env)
    return checkout(root, url, env.branch, env.token()), url


def desired_of(copy: Checkout, env: GitOpsEnv, ref: str = "HEAD") -> Desired | None:
    """What ``env`` is meant to run at ``ref`` of the repository (None: nothing yet)."""
    text = copy.show(ref, f"{env.path}/{DESIRED_FILE}")
    return read(text) if text is not None else None


def _finish(
    root: Path, env: GitOpsEnv, copy: Checkout, url: str, desired: Desired, commit: str | None,
    timeout: float, say: Say, proposal: str,
) -> Outcome:  # fmt: skip
    """Push and converge the commit, or (a ``proposal`` title) open it as a pull request."""
    if proposal and commit:
        made = gitops_pr.propose(copy, env, desired.version, commit, proposal)
        say(f"{env.name}: pushed {commit[:12]} to {made.branch}; pull request {made.url}")
        return made
    return _converge(root, env, copy, url, desired, commit, timeout, say)


def _converge(
    root: Path, env: GitOpsEnv, copy: Checkout, url: str, desired: Desired, commit: str | None,
    timeout: float, say: Say,
) -> Applied:  # fmt: skip
    pushed = copy.push(env.path) if commit else copy.head()
    say(f"{env.name}: {'pushed' if commit else 'already at'} {pushed[:12]}; waiting for Flux")
    gitops_flux.connect(env, url)
    gitops_flux.reconcile(env, [c.name for c in desired.charts])
    observed = gitops_flux.wait(env, pushed, desired.version, desired.versions(), timeout, say)
    return Applied(env.name, pushed, desired.version, observed, changed=bool(commit))


def release(
    root: Path, env: GitOpsEnv, desired: Desired, trust: Trust, say: Say,
    timeout: float = DEFAULT_TIMEOUT, pull_request: bool = False,
) -> Outcome:  # fmt: skip
    """Check, commit, push and converge ``desired`` in ``env`` (or propose it)."""
    copy, url = _open(root, env, pull_request)
    verify(root, env, desired, trust, say)
    files = render(root, env, desired, _public_key(trust))
    message = f"deploy({env.name}): ironcage {desired.version}"
    commit = copy.write(env.path, files, message + _body(desired))
    return _finish(root, env, copy, url, desired, commit, timeout, say,
                   message if pull_request else "")  # fmt: skip


def _running(copy: Checkout, env: GitOpsEnv, desired: Desired) -> list[str]:
    """Why ``env`` does not run ``desired`` right now (empty when it does)."""
    observed = gitops_flux.observe(env)
    applied = observed.applied.rpartition(":")[2]
    same = bool(applied) and copy.same(applied, "HEAD", env.path)
    problems = [] if same and observed.kustomization_ready else [
        f"Flux applied {observed.applied or 'nothing'} to {env.name}, not its desired state"
    ]  # fmt: skip
    versions = desired.versions()
    names = set(versions)
    for r in observed.releases:
        if r.name in names and not (r.converged and r.running == versions[r.name]):
            problems.append(f"{r.name} runs {r.running or 'nothing'} ({r.reason or 'not Ready'})")
    missing = names - {r.name for r in observed.releases}
    problems += [f"{name} is not deployed" for name in sorted(missing)]
    return problems


def promote(
    root: Path, source: GitOpsEnv, dest: GitOpsEnv, trust: Trust, say: Say,
    version: str | None = None, timeout: float = DEFAULT_TIMEOUT, pull_request: bool = False,
) -> Outcome:  # fmt: skip
    """Copy exactly what ``source`` runs into ``dest`` as one commit, then converge it."""
    if source.repository != dest.repository or source.branch != dest.branch:
        raise PreflightError(
            f"{source.describe()} and {dest.describe()} are in different repositories or "
            "branches: promote between environments of one GitOps repository."
        )
    copy, url = _open(root, dest, pull_request)
    desired = desired_of(copy, source)
    if desired is None:
        raise PublishError(
            f"{source.describe()} has no desired state yet: release to it first "
            f"(`invoke release --env {source.name}`)."
        )
    if version is not None and desired.version != version:
        raise PublishError(
            f"Refusing to promote {version} from {source.name}: {source.name} runs "
            f"{desired.version}, not {version}. Promote what it runs, or release {version} to "
            f"{source.name} first."
        )
    problems = _running(copy, source, desired)
    if problems:
        raise PublishError(
            f"Refusing to promote {desired.version} from {source.name} to {dest.name}: it is "
            f"not running in {source.name}: " + "; ".join(problems)
        )
    files = render(root, dest, Desired(desired.version, desired.charts, source.name),
                   _public_key(trust))  # fmt: skip
    message = f"promote({dest.name}): ironcage {desired.version} from {source.name}"
    commit = copy.write(dest.path, files, message + _body(desired))
    return _finish(root, dest, copy, url, desired, commit, timeout, say,
                   message if pull_request else "")  # fmt: skip


def rollback(
    root: Path, env: GitOpsEnv, say: Say, to: str | None = None,
    timeout: float = DEFAULT_TIMEOUT, pull_request: bool = False,
) -> Outcome:  # fmt: skip
    """Return ``env`` to its state before its last change (or when it ran ``to``), by commit."""
    copy, url = _open(root, env, pull_request)
    history = copy.log(env.path)
    current = desired_of(copy, env)
    if current is None or not history:
        raise PublishError(f"{env.describe()} has no desired state to roll back.")
    target = None
    for commit, subject in history[1:]:
        state = desired_of(copy, env, commit)
        if state is not None and (state.version == to if to else state.version != current.version):
            target = (commit, subject, state)
            break
    if target is None:
        versions = [f"{c[:7]} {s}" for c, s in history]
        raise PublishError(
            f"{env.describe()} has no earlier state {f'running {to}' if to else 'to return to'} "
            f"in its history ({'; '.join(versions)})."
        )
    commit, subject, state = target
    message = f"rollback({env.name}): ironcage {state.version} (the state of {commit[:12]})"
    made = copy.restore(env.path, commit, message)
    return _finish(root, env, copy, url, state, made, timeout, say,
                   message if pull_request else "")  # fmt: skip
