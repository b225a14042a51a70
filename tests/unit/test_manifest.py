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


REDIS_DIGEST = "sha256:" + "e5" * 32
THIRD_PARTY = f"""
[[third_party]]
name = "redis"
source = "docker.io/library/redis:7.2-bookworm"
digest = "{REDIS_DIGEST}"
origin = "Docker Official Image"
local = "releasekit-base/redis:7-bookworm"
"""


def test_third_party_images_are_pinned_by_digest(make_repo) -> None:
    root = make_repo()
    path = root / "release.toml"
    path.write_text(path.read_text() + THIRD_PARTY)
    (redis,) = manifest.load(root).third_party
    assert redis == manifest.ThirdPartyImage(
        "redis",
        "docker.io/library/redis:7.2-bookworm",
        REDIS_DIGEST,
        "Docker Official Image",
        "releasekit-base/redis:7-bookworm",
    )
    assert redis.pinned == f"docker.io/library/redis@{REDIS_DIGEST}"


def test_the_repository_pins_the_charts_redis(repo_root: Path) -> None:
    import yaml

    (redis,) = manifest.load(repo_root).third_party
    values = yaml.safe_load((repo_root / "helm/agent-runtime/values.yaml").read_text())
    assert values["redis"]["image"]["digest"] == redis.digest
    assert redis.source == f"docker.io/library/redis:{values['redis']['image']['tag']}"


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            f'"{REDIS_DIGEST}"',
            '"7.2-bookworm"',
            r"third_party\[0\]\.digest.*'7\.2-bookworm'.*sha256",
        ),
        (f'"{REDIS_DIGEST}"', '"sha256:ABC"', r"third_party\[0\]\.digest.*64 hex"),
        ('digest = "', 'digests = "', r"third_party\[0\]\.digests.*not a known key"),
        ('"docker.io/library/redis:7.2-bookworm"', '"redis:7.2-bookworm"', r"source.*host and tag"),
        (
            '"docker.io/library/redis:7.2-bookworm"',
            f'"docker.io/library/redis@{REDIS_DIGEST}"',
            r"third_party\[0\]\.source.*the digest goes in `digest`",
        ),
        ('origin = "Docker Official Image"\n', "", r"third_party\[0\]\.origin` is missing"),
        ('name = "redis"', 'name = "app"', r"third_party\[0\]\.name.*'app'.*unique"),
        ('name = "redis"', 'name = "Redis"', r"third_party\[0\]\.name.*lowercase"),
        ("[[third_party]]", "[third_party]", r"`third_party` is .*array of \[\[third_party\]\]"),
    ],
)
def test_bad_third_party_image_names_key_and_value(
    make_repo, old: str, new: str, match: str
) -> None:
    root = make_repo()
    path = root / "release.toml"
    path.write_text(path.read_text() + THIRD_PARTY.replace(old, new, 1))
    with pytest.raises(ManifestError, match=match) as info:
        manifest.load(root)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ('tag = "{version}-{package}"', r"`release\.tag` is '\{version\}-\{package\}'; start it"),
        ('tag = "{package}-v"', r"`release\.tag` .* must name `\{package\}` and `\{version\}`"),
        ('tag = "{package}-{version}-{sha}"', r"no other field"),
        ('tag = "{package} {version}"', r"use only letters"),
        ('groups = "web"', r"`release\.groups` is 'web'; it must be an array"),
        ('groups = [{name = "g", packages = ["app"]}]', r"groups\[0\]\.packages.*two or more"),
        ('groups = [{name = "g", packages = ["app", "nope"]}]', r"names 'nope'; allowed"),
        (
            'groups = [{name = "a", packages = ["app", "site"]}, '
            '{name = "b", packages = ["site", "tool"]}]',
            r"names 'site', which is in group `a` already",
        ),
        ('groups = [{name = "g", members = ["app", "site"]}]', r"keys `name`"),
    ],
)
def test_bad_tag_pattern_or_group_is_named(make_repo, extra: str, match: str) -> None:
    root = make_repo(policy="independent")
    path = root / "release.toml"
    path.write_text(path.read_text().replace('branch = "main"', f'branch = "main"\n{extra}', 1))
    with pytest.raises(ManifestError, match=match) as info:
        manifest.load(root)
    assert str(path) in str(info.value)


def test_tag_pattern_and_groups_load(make_repo) -> None:
    root = make_repo(policy="independent")
    path = root / "release.toml"
    extra = 'tag = "{package}/v{version}"\ngroups = [{name = "g", packages = ["app", "site"]}]'
    path.write_text(path.read_text().replace('branch = "main"', f'branch = "main"\n{extra}', 1))
    loaded = manifest.load(root)
    assert loaded.tag == "{package}/v{version}"
    assert [(g.name, g.packages) for g in loaded.groups] == [("g", ("app", "site"))]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", ("linux/amd64", "linux/arm64")),
        ('platforms = ["linux/amd64"]', ("linux/amd64",)),
        ('platforms = ["linux/arm64", "linux/amd64"]', ("linux/arm64", "linux/amd64")),
        ("platforms = []", r"release\.platforms.*non-empty list"),
        ('platforms = ["linux/s390x"]', r"release\.platforms.*'linux/s390x' is unknown"),
        ('platforms = ["linux/amd64", "linux/amd64"]', r"'linux/amd64' is unknown or repeated"),
        ('platforms = "linux/amd64"', r"release\.platforms.*non-empty list"),
    ],
)
def test_release_platforms(make_repo, line: str, expected: tuple[str, ...] | str) -> None:
    root = make_repo()
    path = root / "release.toml"
    path.write_text(path.read_text().replace("[release]", f"[release]\n{line}", 1))
    if isinstance(expected, tuple):
        assert manifest.load(root).platforms == expected
        return
    with pytest.raises(ManifestError, match=expected) as info:
        manifest.load(root)
    assert str(path) in str(info.value)
