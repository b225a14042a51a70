from __future__ import annotations

import json
from pathlib import Path

import pytest

from releasekit.core import manifest, workspace
from releasekit.core.artifact import Artifact
from releasekit.release.context import RECORDED, Context
from releasekit.release.plan import Options

DIGEST = "sha256:" + "c" * 64


def _context(root: Path) -> Context:
    return Context(ws=workspace.load(manifest.load(root)), opts=Options())


def test_what_steps_record_round_trips_through_the_state_file(make_repo) -> None:
    root = make_repo()
    ctx = _context(root)
    ctx.version, ctx.since, ctx.how, ctx.notes = "1.5.0", None, "--to 1.5.0", "## 1.5.0"
    ctx.commit, ctx.files, ctx.tag, ctx.remote = "abc", ["CHANGELOG.md"], "v1.5.0", "/r.git"
    ctx.deployed, ctx.signed = ["pilot 1.5.0"], ["image api: signed"]
    ctx.record(Artifact("wheel", "python/a.whl", path="python/a.whl", sha256="11"))
    ctx.record(Artifact("image", "api", digest=DIGEST, tags=("1.5.0",), destination="r/x/api"))
    saved = json.loads(json.dumps({**ctx.export(RECORDED), "summary": "ignored"}))

    again = _context(root)
    again.restore(saved)
    assert again.export(RECORDED) == ctx.export(RECORDED)
    assert again.artifacts.images()["api"].digest == DIGEST


def test_export_refuses_a_field_that_is_not_recorded(make_repo) -> None:
    with pytest.raises(KeyError, match="opts is not a recorded field"):
        _context(make_repo()).export(["opts"])


def test_published_is_release_json_shaped(make_repo) -> None:
    ctx = _context(make_repo())
    ctx.version, ctx.commit = "1.5.0", "abc"
    ctx.record(Artifact("wheel", "python/a.whl", path="python/a.whl", sha256="11", status="built"))
    ctx.artifacts.update("wheel", "python/a.whl", destination="http://i", status="uploaded")
    ctx.record(Artifact("image", "api", digest=DIGEST, tags=("1.5.0",), destination="r/x/api"))
    ctx.record(
        Artifact("chart", "app-1.5.0.tgz", sha256="22", destination="oci://r/charts/app:1.5.0")
    )
    published = ctx.published()
    assert published["python"] == {"a.whl": {"status": "uploaded", "sha256": "11"}}
    assert published["images"] == {
        "api": {"repository": "r/x/api", "tags": ["1.5.0"], "digest": DIGEST}
    }
    assert published["charts"]["app-1.5.0.tgz"]["ref"] == "oci://r/charts/app:1.5.0"
    assert (published["version"], published["commit"]) == ("1.5.0", "abc")


def test_release_notes_list_where_each_artifact_went(make_repo) -> None:
    from releasekit.release.steps.report import release_notes

    ctx = _context(make_repo())
    ctx.notes = "## 1.5.0\n\n- fix: a\n"
    assert release_notes(ctx) == ctx.notes
    ctx.record(Artifact("wheel", "python/a.whl", path="python/a.whl", destination="http://i"))
    ctx.record(Artifact("image", "api", digest=DIGEST, tags=("1.5.0",), destination="r/x/api"))
    notes = release_notes(ctx)
    assert notes.startswith("## 1.5.0\n\n- fix: a\n\n### Artifacts\n")
    assert "- wheel `a.whl` -> http://i\n" in notes
    assert f"- image api: `r/x/api@{DIGEST}` (1.5.0)\n" in notes


def test_published_images_name_their_platforms(make_repo) -> None:
    ctx = _context(make_repo())
    ctx.version, ctx.commit = "1.5.0", "abc"
    arm64, amd64 = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    pairs = (("linux/amd64", amd64), ("linux/arm64", arm64))
    ctx.record(Artifact("image", "api", digest=DIGEST, destination="r/x/api", platforms=pairs))
    entry = ctx.published()["images"]["api"]
    assert entry["digest"] == DIGEST
    assert entry["platforms"] == {"linux/amd64": amd64, "linux/arm64": arm64}
