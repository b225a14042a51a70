"""The site tarball for real: the package's own builder, reproducible output."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from releasekit.build import artifacts, site
from releasekit.core.errors import PublishError
from releasekit.core.files import file_sha256

from .conftest import COMMIT_EPOCH, VERSION, load

pytestmark = pytest.mark.integration


def test_site_tarball_is_reproducible_and_cached(make_ws: Callable[[], Path]) -> None:
    root = make_ws()
    ws = load(root)
    (first,) = site.build_all(ws, VERSION)
    tarball = root / "dist" / VERSION / "site" / f"marketing-site-{VERSION}.tar.gz"
    assert (first.key, first.status, first.outputs) == ("site:marketing-site", "built", (tarball,))
    digest = file_sha256(tarball)
    (again,) = site.build_all(ws, VERSION)
    assert again.status == "up to date"
    (forced,) = site.build_all(ws, VERSION, force=True)
    assert forced.status == "built"
    assert file_sha256(tarball) == digest
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        assert "index.html" in names
        assert all(m.uid == 0 and m.gid == 0 for m in tar.getmembers())
        page = tar.extractfile("index.html")
        assert page is not None
        assert VERSION in page.read().decode()


def test_two_copies_of_one_commit_give_one_tarball(make_ws: Callable[[], Path]) -> None:
    digests = []
    for root in (make_ws(), make_ws()):
        assert artifacts.source_date_epoch(root) == COMMIT_EPOCH
        (out,) = site.build_all(load(root), VERSION)
        digests.append(file_sha256(out.outputs[0]))
    assert digests[0] == digests[1]
    with tarfile.open(out.outputs[0]) as tar:
        assert {m.mtime for m in tar.getmembers()} == {int(COMMIT_EPOCH)}


def test_content_change_rebuilds(make_ws: Callable[[], Path]) -> None:
    root = make_ws()
    ws = load(root)
    site.build_all(ws, VERSION)
    content = next((root / "packages/marketing-site/src").rglob("index.md"))
    content.write_text(content.read_text() + "\nMore words.\n")
    (again,) = site.build_all(ws, VERSION)
    assert again.status == "built"


def test_check_tarball_refuses_a_tarball_without_index(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(__file__, arcname="other.txt")
    with pytest.raises(PublishError, match=r"no index\.html"):
        site.check_tarball(bad, VERSION)
