from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.core import manifest
from releasekit.core.errors import ManifestError


def test_repository_manifest_loads(repo_root: Path) -> None:
    m = manifest.load(repo_root)
    assert [p.name for p in m.packages] == [
        "sandbox",
        "agent-runtime",
        "cli",
        "control-panel",
        "marketing-site",
    ]
    assert m.policy == "lockstep"
    assert sorted(m.base_images) == ["NGINX_BASE", "PYTHON_BASE"]
    assert all("@sha256:" in ref for ref in m.base_images.values())


def test_demo_manifest_loads(make_repo) -> None:
    m = manifest.load(make_repo())
    assert m.package("app").images == ("app",)
    assert m.sites[0].kind == "chart"


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('policy = "lockstep"', 'policy = "sometimes"', r"release\.policy.*'sometimes'.*lockstep"),
        ('policy = "lockstep"', 'policy = "lockstep"\ncolour = 1', r"`colour` is not a known key"),
        ('artifacts = ["wheel"]', 'artifacts = ["egg"]', r"packages\[2\]\.artifacts.*'egg'"),
        ('path = "packages/site"', 'path = "packages/nope"', r"packages\[3\]\.path.*pyproject"),
        ('name = "tool"', 'name = "Tool_1"', r"packages\[2\]\.name.*lowercase"),
        ('name = "tool"', 'name = "core"', r"unique"),
        ('kind = "chart"', 'kind = "xml"', r"sites\[0\]\.kind.*'xml'"),
        ('images = ["app"]', "images = []", r"images.*exactly when artifacts has 'image'"),
        ("[release]", "[release", r"not valid TOML"),
    ],
)
def test_bad_manifest_names_file_key_and_value(make_repo, old: str, new: str, match: str) -> None:
    root = make_repo()
    path = root / "release.toml"
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ManifestError, match=match) as info:
        manifest.load(root)
    assert str(path) in str(info.value)


_DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (f'PYTHON_BASE = "python:3.11-slim-bookworm@{_DIGEST}"', None),
        (f'NGINX_BASE = "ghcr.io:443/mirror/nginx:1.27-bookworm@{_DIGEST}"', None),
        (
            'PYTHON_BASE = "python:3.11-slim-bookworm"',
            r"base_images\.PYTHON_BASE.*pin it by digest",
        ),
        ('NGINX_BASE = "nginx@sha256:abc"', r"base_images\.NGINX_BASE.*64 hex digits"),
        (f'RUBY_BASE = "ruby@{_DIGEST}"', r"base_images\.RUBY_BASE.*not a known key"),
    ],
)
def test_base_images_are_pinned_by_digest(make_repo, table: str, expected: str | None) -> None:
    root = make_repo()
    path = root / "release.toml"
    path.write_text(path.read_text() + f"\n[base_images]\n{table}\n")
    if expected is None:
        key, _, value = table.partition(" = ")
        assert manifest.load(root).base_images == {key: value.strip('"')}
        return
    with pytest.raises(ManifestError, match=expected) as info:
        manifest.load(root)
    assert str(path) in str(info.value)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"release\.toml does not exist"):
        manifest.load(tmp_path)


def test_regex_site_needs_version_group(make_repo) -> None:
    root = make_repo()
    path = root / "release.toml"
    path.write_text(
        path.read_text()
        + '\n[[sites]]\npackage = "app"\nfile = "x"\nkind = "regex"\npattern = "v(\\\\d+)"\n'
    )
    with pytest.raises(ManifestError, match=r"named group \(\?P<version>"):
        manifest.load(root)


def test_unknown_package_lists_known(make_repo) -> None:
    m = manifest.load(make_repo())
    with pytest.raises(ManifestError, match=r"Unknown package `nope`.*core, app, tool, site"):
        m.package("nope")
