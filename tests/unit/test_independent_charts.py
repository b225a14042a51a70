"""A chart's own version under policy independent, over real commits in a throwaway repository.

The demo monorepo's app chart pins the app image and, in these tests, the site package's
``web`` image too: a release of the site alone moves a pinned image, so the chart is
published again a patch higher, its appVersion still the app's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.core import version
from releasekit.core.errors import VersionError
from releasekit.release import independent
from releasekit.release.chart_bumps import (
    ChartBump,
    chart_bumps,
    chart_versions_of,
    pinned_images,
)
from releasekit.release.kept import app_versions, chart_versions
from releasekit.release.plan import Options
from releasekit.release.steps.describe import describe
from releasekit.release.steps.prepare import Prepare
from tests.unit.conftest import git
from tests.unit.test_independent import commit, load
from tests.unit.test_independent_steps import _context

VALUES = """\
image:
  repository: ironcage/app
  digest: ""
sidecar:
  web:
    image:
      repository: ironcage/web
      digest: ""
"""


@pytest.fixture
def repo(make_repo, tmp_path: Path) -> tuple[Path, Path]:
    """Independent after v1.4.2, with a remote; the app chart pins the site's web image."""
    root = make_repo(policy="independent")
    manifest = root / "release.toml"
    text = manifest.read_text().replace(
        'artifacts = ["site"]\n', 'artifacts = ["site", "image"]\nimages = ["web"]\n'
    )
    manifest.write_text(text)
    (root / "charts/app/values.yaml").write_text(VALUES)
    (root / ".gitignore").write_text("build/\ndist/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "chore: the app chart runs the site's web image beside it")
    git(root, "tag", "-a", "v1.4.2", "-m", "v1.4.2")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "push", "-q", str(remote), "main", "v1.4.2")
    return root, remote


def _chart(root: Path) -> tuple[str, str]:
    text = (root / "charts/app/Chart.yaml").read_text()
    found = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return found["version"], found["appVersion"].strip('"')


def test_pinned_images_are_read_from_every_image_block(repo) -> None:
    root, _ = repo
    assert pinned_images(root / "charts/app") == ["app", "web"]
    assert pinned_images(root / "packages/site") == []  # no values.yaml


def test_a_moved_image_of_another_package_publishes_the_chart_a_patch_higher(repo) -> None:
    root, remote = repo
    commit(root, "fix(site): a typo", "packages/site/page.txt")
    planned = independent.plan(load(root), str(remote))
    assert planned.versions == {"site": "1.4.3"}
    file = root / "charts/app/Chart.yaml"
    assert chart_bumps(load(root), planned.versions) == [
        ChartBump(
            "app", file, "app", "1.4.2", "1.4.3", "1.4.2", ("pinned image web of site 1.4.3",)
        )
    ]

    ctx = _context(root, remote)
    ctx.opts = Options(env="none")
    reason = "chart app 1.4.2 -> 1.4.3 (appVersion 1.4.2 of app): pinned image web of site 1.4.3"
    assert [line for line in describe(ctx) if line.startswith("chart ")] == [
        f"{reason} -> {ctx.dest.chart_registry}"
    ]  # --dry-run names the reason
    Prepare().run(ctx)
    assert _chart(root) == ("1.4.3", "1.4.2")  # its own version moved, its appVersion did not
    assert "charts/app/Chart.yaml" in git(root, "show", "--stat", "--format=", "HEAD")
    assert version.check(load(root))["app"] == "1.4.2"  # a chart's own version is no drift
    assert chart_versions(load(root), str(remote), planned.versions) == {"app": "1.4.3"}
    assert app_versions(load(root), str(remote), planned.versions) == {"app": "1.4.2"}

    for tag in planned.tags:
        git(root, "tag", "-a", tag, "-m", tag)
    git(root, "push", "-q", str(remote), "main", *planned.tags)
    commit(root, "fix(app): a leak", "packages/app/src/demo_app/leak.py")
    after = independent.plan(load(root), str(remote))
    assert after.versions == {"app": "1.4.3"}
    (bump,) = chart_bumps(load(root), after.versions)
    # 1.4.3 was published by the site's release: the chart never reuses a version.
    assert (bump.old, bump.new, bump.app_version, bump.reasons) == (
        "1.4.3", "1.4.4", "1.4.3", ("app 1.4.3",),
    )  # fmt: skip


def test_a_chart_follows_its_package_when_nothing_else_moves_it(repo) -> None:
    root, remote = repo
    commit(root, "fix(app): a leak", "packages/app/src/demo_app/leak.py")
    commit(root, "fix(tool): a flag", "packages/tool/cli.py")
    planned = independent.plan(load(root), str(remote))
    (bump,) = chart_bumps(load(root), planned.versions)
    assert (bump.old, bump.new, bump.app_version, bump.reasons) == (
        "1.4.2", "1.4.3", "1.4.3", ("app 1.4.3",),
    )  # fmt: skip
    assert chart_bumps(load(root), {"tool": "1.4.3", "core": "1.5.0"}) == []


def test_a_chart_version_apart_from_its_package_is_drift_under_lockstep(repo) -> None:
    root, _ = repo
    ws = load(root)
    version.apply(ws, [], {root / "charts/app/Chart.yaml": "1.4.3"})
    assert _chart(root) == ("1.4.3", "1.4.2")
    manifest = root / "release.toml"
    manifest.write_text(manifest.read_text().replace('"independent"', '"lockstep"'))
    with pytest.raises(VersionError, match=r"charts/app/Chart.yaml:\d+ \(chart version of app\)"):
        version.check(load(root))


def test_a_bump_by_hand_never_lowers_a_chart_bumped_ahead_of_its_package(repo) -> None:
    root, _ = repo
    ws = load(root)
    version.apply(ws, [], {root / "charts/app/Chart.yaml": "1.4.5"})  # moved by a site release
    bumps = version.plan_bump(load(root), part="patch", package="app")
    assert [(b.package, b.new) for b in bumps] == [("app", "1.4.3")]
    charts = chart_versions_of(load(root), bumps)
    assert charts == {root / "charts/app/Chart.yaml": "1.4.6"}
    version.apply(load(root), bumps, charts)
    assert _chart(root) == ("1.4.6", "1.4.3")
