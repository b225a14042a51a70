"""The steps of `invoke release`, in order: one small object per step.

Every step reads and writes the typed release ``Context`` (workspace, options, target,
artifact registry and what earlier steps produced) and names the fields it produces, which
the state file keeps. Steps that publish ask the destination first, so repeating one after
a crash publishes nothing twice.
"""

from __future__ import annotations

from releasekit.core.workspace import Workspace
from releasekit.release.plan import Options
from releasekit.release.steps.base import Step
from releasekit.release.steps.build import Build, Verify
from releasekit.release.steps.deploy import Deploy, Health
from releasekit.release.steps.describe import describe
from releasekit.release.steps.merge import Merge
from releasekit.release.steps.preflight import (
    Preflight,
    Version,
    choose_version,
    preflight_readonly,
)
from releasekit.release.steps.prepare import Prepare
from releasekit.release.steps.publish import PublishCharts, PublishImages, PublishPython
from releasekit.release.steps.report import Report
from releasekit.release.steps.sign import Sign, VerifyPublished
from releasekit.release.steps.tag import Tag

__all__ = ["Step", "choose_version", "describe", "preflight_readonly", "steps"]


def steps(ws: Workspace, opts: Options) -> list[Step]:
    """The release, in order."""
    del ws
    return [
        Preflight(),
        Version(),
        Prepare(),
        Merge(opts.merge) if opts.merge else Build(),
        Verify(),
        Tag(),
        PublishPython(),
        PublishImages(),
        PublishCharts(),
        Sign(),
        VerifyPublished(),
        Deploy(opts.env),
        Health(),
        Report(),
    ]
