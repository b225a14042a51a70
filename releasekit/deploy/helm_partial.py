"""A deploy of a partial release: every chart, each at its own version, one set of images.

Under policy independent a release publishes only the charts of the packages it releases;
a deploy still runs every chart (a complete set). Each chart is installed from the chart
registry at the version its package last released (the new one, for a released package),
and every image of every chart is pinned by the release's ``dist/<release id>/images.json``,
which lists the released images at their new digests and the kept ones at their last
release's digests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from releasekit.core import manifest
from releasekit.core.artifact import IMAGES_FILE
from releasekit.core.errors import PublishError
from releasekit.deploy.helm import DEFAULT_TIMEOUT, DryRun, Upgrade, upgrade_argv
from releasekit.deploy.helm_pins import image_sets
from releasekit.deploy.kube_env import KubeEnv
from releasekit.publish.charts import chart_repo, find_charts, plain_http

__all__ = ["plan_charts"]


def plan_charts(
    root: Path,
    env: KubeEnv,
    release: str,
    versions: Mapping[str, str],
    chart_registry: str,
    image_registry: str | None = None,
    dry_run: DryRun | None = None,
    timeout: str = DEFAULT_TIMEOUT,
) -> list[Upgrade]:
    """One ``helm upgrade --install`` per chart, chart ``name`` at ``versions[name]`` from
    ``chart_registry``, its images pinned from ``dist/<release>/images.json``.

    PublishError names a chart without a version (its package was never released) or a
    release without images.json.
    """
    images_json = root / "dist" / release / IMAGES_FILE
    if not images_json.is_file():
        raise PublishError(
            f"{images_json} is missing: a deploy of {release} pins every image from it. "
            "Publish the release's images first (`invoke release --resume`)."
        )
    images = frozenset(
        image for pkg in manifest.load(root).packages for image in pkg.images
    )  # fmt: skip
    upgrades = []
    for chart in find_charts(root):
        version = versions.get(chart.name)
        if version is None:
            raise PublishError(
                f"Chart {chart.name} ({chart.path}) has no released version to deploy with "
                f"{release}: its package was never released. Release it too "
                "(`invoke release --package PACKAGE --part patch`)."
            )
        sets = image_sets(chart, images_json, image_registry, images)
        values = chart.values(env.values)
        argv = upgrade_argv(
            chart.name, f"{chart_repo(chart_registry)}/{chart.name}", env.namespace, values,
            sets, version=version, dry_run=dry_run, plain=plain_http(chart_registry),
            timeout=timeout,
        )  # fmt: skip
        upgrades.append(Upgrade(chart.name, version, tuple(argv), values, tuple(sets), chart.name))
    return upgrades
