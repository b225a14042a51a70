"""A release split across runners, for real: separate clones that share only one sandbox.

Three clones play three CI runners of one release, sharing nothing but a sandbox (its
registry, index and git remote, through ``RELEASEKIT_SANDBOX``): the merging clone makes
the release commit and pushes it to a release branch; two clones check that branch out and
build one shard each, side by side; the merging clone refuses shard folders with a changed
file or a missing artifact, is killed while adopting the good ones, and resumes. The
result must be the release a single machine makes of the same commit, with its own sandbox
and no shared cache: the same SHA256SUMS and the same image digests. A fourth, fresh clone
then builds the release commit and finds every artifact in the shared cache.

The workspace is the Python packages, the site and the site's image (no binary), so the
whole module stays in minutes; the image is built for linux/amd64 and linux/arm64 and
pushed by digest when its shard builds it, and the merge reads its index and platform
digests from the shard records: the merged release names the digests a single machine
builds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, narrow_platforms
from tests.integration.python.conftest import git, make_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

REF = "release/1"
IMAGE = "marketing-site"
VERIFICATION_EXIT = 11


def _workspace(path: Path) -> Path:
    """The trimmed workspace without the binary, with the site's image for both platforms;
    the same commit in every clone."""
    root = make_workspace(path)
    manifest = root / "release.toml"
    text = manifest.read_text().replace('["sdist", "wheel", "binary"]', '["sdist", "wheel"]')
    text = text.replace(
        'artifacts = ["site"]', 'artifacts = ["site", "image"]\nimages = ["marketing-site"]'
    )
    manifest.write_text(text)
    narrow_platforms(root, '["linux/amd64", "linux/arm64"]')
    (root / "docker").mkdir()
    shutil.copy2(REPO / "docker" / f"{IMAGE}.Dockerfile", root / "docker")
    shutil.copytree(REPO / "docker" / "nginx", root / "docker" / "nginx")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--amend", "--no-edit")
    return root


def _images(root: Path) -> dict[str, dict[str, Any]]:
    """release.json's image entries without the registry they went to (one per sandbox)."""
    found = _release_json(root)["images"]
    assert isinstance(found, dict)
    return {
        name: {k: v for k, v in entry.items() if k in ("digest", "platforms")}
        for name, entry in found.items()
    }


def _env(sandbox: Path | None, buildkit: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEKIT_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["RELEASEKIT_BUILDKIT_STATE"] = str(buildkit)
    if sandbox is not None:
        env["RELEASEKIT_SANDBOX"] = str(sandbox)
    return env


def _invoke(
    root: Path, env: dict[str, str], *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if ok:
        assert proc.returncode == 0, f"invoke {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _start(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _release_json(root: Path) -> dict[str, object]:
    (found,) = sorted(root.glob("dist/*/release.json"))
    data = json.loads(found.read_text())
    assert isinstance(data, dict)
    return data


# Files of the release that name its destinations (index URL, registry, the sandbox's own
# key): two sandboxes give two of them; everything else must be the same bytes (the images'
# digests are compared through release.json).
_PER_SANDBOX = {"RELEASE_NOTES.md", "cosign.pub", "images.json"}


def _sums(root: Path) -> dict[str, str]:
    """SHA256SUMS of the release (without the per-sandbox files), by file."""
    (found,) = sorted(root.glob("dist/*/SHA256SUMS"))
    lines = (line.split("  ", 1) for line in found.read_text().splitlines())
    sums = {name: digest for digest, name in lines if name not in _PER_SANDBOX}
    assert any(name.startswith("python/") for name in sums), sums
    return sums


def test_split_release_equals_one_machine(tmp_path: Path) -> None:
    merger = _workspace(tmp_path / "merge")
    sandbox = merger / ".sandbox"
    shared = _env(sandbox, tmp_path / "buildkit")
    try:
        _invoke(merger, shared, "sandbox.up")
        _invoke(
            merger, shared, "release", "--part", "minor", "--env", "none", "--yes",
            "--stop-after", "prepare",
        )  # fmt: skip
        _invoke(merger, shared, "release.ref", "--push", REF)
        commit = git(merger, "rev-parse", "HEAD").strip()

        runners = [_workspace(tmp_path / f"shard{i}") for i in (1, 2)]
        for runner in runners:
            _invoke(runner, shared, "release.ref", "--checkout", REF)
            assert git(runner, "rev-parse", "HEAD").strip() == commit
        building = [
            _start(runner, shared, "build", "--shard", f"{i}/2")
            for i, runner in enumerate(runners, start=1)
        ]
        for proc in building:
            out, _ = proc.communicate(timeout=1200)
            assert proc.returncode == 0, out
        tars = [
            runner / "build" / "shards" / f"{i}-of-2.tar" for i, runner in enumerate(runners, 1)
        ]
        downloaded = merger / "build" / "downloaded"
        downloaded.mkdir(parents=True)
        for tar in tars:
            shutil.copy2(tar, downloaded / tar.name)

        # A missing shard, then a changed file: refused, naming the artifact and the file.
        lone = _invoke(merger, shared, "release", "--resume", "--merge", str(tars[0]), ok=False)
        assert lone.returncode == VERIFICATION_EXIT, lone.stderr
        assert "is in no shard" in lone.stderr
        changed = merger / "build" / "changed"
        for i, runner in enumerate(runners, start=1):
            shutil.copytree(runner / "build" / "shards" / f"{i}-of-2", changed / f"{i}-of-2")
        victim = next(p for p in sorted(changed.rglob("*.whl")))
        victim.write_bytes(victim.read_bytes() + b"\0")
        refused = _invoke(merger, shared, "release", "--resume", "--merge", str(changed), ok=False)
        assert refused.returncode == VERIFICATION_EXIT, refused.stderr
        assert victim.name in refused.stderr and "has sha256" in refused.stderr

        # Killed while adopting the shards, then resumed as any release.
        killed = _invoke(
            merger,
            {**shared, "RELEASEKIT_FAULT": "kill-at:merge:adopting"},
            "release", "--resume", "--merge", "build/downloaded",
            ok=False,
        )  # fmt: skip
        assert killed.returncode == -9, killed.stderr
        finished = _invoke(merger, shared, "release", "--resume", "--env", "none", "--yes")
        assert "adopted from 2 shards" in finished.stdout + finished.stderr

        # One machine, its own sandbox, no shared cache: the same commit released alone.
        alone = _workspace(tmp_path / "alone")
        own = _env(None, tmp_path / "buildkit")
        git(alone, "fetch", "-q", str(sandbox / "remote.git"), f"refs/heads/{REF}")
        git(alone, "checkout", "-q", "-B", "main", "FETCH_HEAD")
        try:
            _invoke(alone, own, "sandbox.up")
            _invoke(alone, own, "release", "--env", "none", "--yes", "--no-remote-cache")
            assert _sums(alone) == _sums(merger)
            notes = [(root / "dist").glob("*/RELEASE_NOTES.md") for root in (alone, merger)]
            lines = [[x for x in next(n).read_text().splitlines() if "->" in x] for n in notes]
            assert [x.rsplit("->", 1)[0] for x in lines[0]] == [
                x.rsplit("->", 1)[0] for x in lines[1]
            ]
            merged = _images(merger)
            print(f"image digests, merged: {merged}")
            assert set(merged) == {IMAGE}
            assert sorted(merged[IMAGE]["platforms"]) == ["linux/amd64", "linux/arm64"]
            assert _images(alone) == merged
            assert _release_json(alone)["commit"] == _release_json(merger)["commit"] == commit
        finally:
            _invoke(alone, own, "sandbox.down", ok=False)

        # A fresh clone with empty caches finds every artifact in the shared cache.
        fresh = _workspace(tmp_path / "fresh")
        _invoke(fresh, shared, "release.ref", "--checkout", REF)
        _invoke(fresh, shared, "build.clean", "--all")
        built = _invoke(fresh, shared, "build", "--json")
        rows = json.loads(built.stdout)["artifacts"]
        # Images share BuildKit's registry cache, not the artifact cache: they are rebuilt
        # from it (no step runs) to the same index.
        keys = {
            r["artifact"] for r in rows if r["artifact"] not in ("SHA256SUMS", f"image:{IMAGE}")
        }
        lines = [line for line in built.stderr.splitlines() if "cached (registry)" in line]
        assert {line.removeprefix("> ").split()[0] for line in lines} == keys
        built_sums = _sums(fresh)
        assert built_sums == {k: v for k, v in _sums(merger).items() if k in built_sums}
    finally:
        _invoke(merger, shared, "sandbox.down", ok=False)
        _invoke(merger, shared, "build.buildkit", "--stop", ok=False)
