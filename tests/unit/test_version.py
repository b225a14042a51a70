from __future__ import annotations

import re
from pathlib import Path

import pytest

from releasekit.core import manifest, version, workspace
from releasekit.core.errors import ManifestError, VersionError


def load(root: Path) -> workspace.Workspace:
    return workspace.load(manifest.load(root))


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


@pytest.mark.parametrize(
    ("old", "part", "to", "expected"),
    [
        ("1.4.2", "patch", None, "1.4.3"),
        ("1.4.2", "minor", None, "1.5.0"),
        ("1.4.2", "major", None, "2.0.0"),
        ("1.4.2", "prerelease", None, "1.4.3-rc.1"),
        ("1.4.3-rc.1", "prerelease", None, "1.4.3-rc.2"),
        ("1.4.3-rc.2", "release", None, "1.4.3"),
        ("1.4.3-rc.2", "patch", None, "1.4.3"),
        ("1.4.2", None, "2.0.0-beta.1", "2.0.0-beta.1"),
    ],
)
def test_bump_version(old: str, part: str | None, to: str | None, expected: str) -> None:
    assert version.bump_version(old, part, to) == expected


@pytest.mark.parametrize(
    ("part", "to", "match"),
    [
        (None, "1.2", r"`1\.2` in --to is not a valid semantic version"),
        (None, "1.4.2", r"`1\.4\.2` is not higher than the current version `1\.4\.2`"),
        (None, "1.0.0", r"not higher"),
        (None, "1.5.0+build.7", r"build metadata"),
        ("huge", None, r"Unknown --part `huge`; allowed values are major, minor"),
        ("release", None, r"not a pre-release"),
    ],
)
def test_bump_version_refuses(part: str | None, to: str | None, match: str) -> None:
    with pytest.raises(VersionError, match=match):
        version.bump_version("1.4.2", part, to)


def test_read_finds_every_site(make_repo) -> None:
    ws = load(make_repo())
    found = version.read(ws)
    kinds = sorted({f.site.kind for f in found})
    assert kinds == [
        "__version__",
        "chart appVersion",
        "chart version",
        "pin in app",
        "pin in tool",
        "pyproject",
    ]
    assert {f.value for f in found} == {"1.4.2"}
    # [tool.other].version is outside [project]: not a site.
    assert len([f for f in found if f.site.kind == "pyproject"]) == 4


def test_lockstep_bump_writes_every_site(make_repo) -> None:
    root = make_repo()
    ws = load(root)
    bumps = version.plan_bump(ws, part="minor")
    assert {(b.old, b.new) for b in bumps} == {("1.4.2", "1.5.0")}
    version.apply(ws, bumps)
    assert version.check(ws) == dict.fromkeys(["core", "app", "tool", "site"], "1.5.0")
    assert 'version = "9.9.9"' in (root / "packages/core/pyproject.toml").read_text()
    assert '"demo-core==1.5.0"' in (root / "packages/app/pyproject.toml").read_text()
    chart = (root / "charts/app/Chart.yaml").read_text()
    assert "version: 1.5.0" in chart
    assert 'appVersion: "1.5.0"' in chart


def test_check_names_the_drifting_file_and_both_values(make_repo) -> None:
    root = make_repo()
    init = root / "packages/tool/src/demo_tool/__init__.py"
    init.write_text(init.read_text().replace("1.4.2", "1.4.9"))
    with pytest.raises(
        VersionError,
        match=r"packages/tool/src/demo_tool/__init__\.py:3 .* holds 1\.4\.9, expected 1\.4\.2",
    ):
        version.check(load(root))


@pytest.mark.parametrize(
    ("kwargs", "match", "exc"),
    [
        ({"to": "1.2"}, r"not a valid semantic version", VersionError),
        ({"part": "huge"}, r"Unknown --part `huge`", VersionError),
        ({"part": "minor", "package": "nope"}, r"Unknown package `nope`", ManifestError),
        (
            {"part": "minor", "package": "core"},
            r"only meaningful under policy `independent`",
            VersionError,
        ),
        ({}, r"exactly one of --part or --to", VersionError),
    ],
)
def test_bad_bump_changes_nothing(make_repo, kwargs, match: str, exc: type[Exception]) -> None:
    root = make_repo()
    before = snapshot(root)
    with pytest.raises(exc, match=match):
        ws = load(root)
        version.apply(ws, version.plan_bump(ws, **kwargs))
    assert snapshot(root) == before


def test_bump_refused_while_sites_drift(make_repo) -> None:
    root = make_repo()
    pyproject = root / "packages/site/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.4.2"', 'version = "1.4.0"'))
    before = snapshot(root)
    with pytest.raises(VersionError, match=r"packages/site/pyproject\.toml:3 .*holds 1\.4\.0"):
        version.plan_bump(load(root), part="patch")
    assert snapshot(root) == before


def test_independent_bump_follows_dependents_and_rewrites_pins(make_repo) -> None:
    root = make_repo(policy="independent")
    ws = load(root)
    bumps = version.plan_bump(ws, part="minor", package="core")
    assert [(b.package, b.new) for b in bumps] == [
        ("core", "1.5.0"),
        ("app", "1.4.3"),
        ("tool", "1.4.3"),
    ]
    version.apply(ws, bumps)
    assert version.check(ws) == {"core": "1.5.0", "app": "1.4.3", "tool": "1.4.3", "site": "1.4.2"}
    app = (root / "packages/app/pyproject.toml").read_text()
    assert 'version = "1.4.3"' in app
    assert '"demo-core==1.5.0"' in app


def test_independent_bump_needs_package(make_repo) -> None:
    with pytest.raises(VersionError, match=r"--package NAME"):
        version.plan_bump(load(make_repo(policy="independent")), part="patch")


def test_missing_site_is_named(make_repo) -> None:
    root = make_repo()
    (root / "charts/app/Chart.yaml").write_text("apiVersion: v2\nname: app\n")
    with pytest.raises(ManifestError, match=r"charts/app/Chart\.yaml holds no chart version"):
        version.read(load(root))


@pytest.mark.parametrize(
    ("semver_form", "python_form"),
    [
        ("1.2.0", "1.2.0"),
        ("0.3.0-dev.1", "0.3.0.dev1"),
        ("0.3.0-alpha.2", "0.3.0a2"),
        ("0.3.0-beta.3", "0.3.0b3"),
        ("0.3.0-rc.1", "0.3.0rc1"),
        ("10.20.30-rc.12", "10.20.30rc12"),
    ],
)
def test_python_version_maps_semver_to_pep_440_and_back(semver_form: str, python_form: str) -> None:
    from packaging.utils import canonicalize_version
    from packaging.version import Version

    assert version.python_version(semver_form) == python_form
    assert str(Version(python_form)) == python_form  # already PEP 440's normal form
    assert canonicalize_version(semver_form) == canonicalize_version(python_form)
    assert version.semver_of_python(python_form) == semver_form


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("0.3.0-nightly.1", r"pre-release `nightly\.1`.*--pre-token dev, alpha, beta or rc"),
        ("0.3.0-preview.1", r"pre-release `preview\.1`"),
        ("0.3.0-a.1", r"pre-release `a\.1`"),
        ("0.3.0-post.1", r"pre-release `post\.1`"),
        ("0.3.0-rc", r"pre-release `rc`"),
        ("0.3.0-rc.1.2", r"pre-release `rc\.1\.2`"),
        ("0.3", r"not a valid semantic version"),
    ],
)
def test_python_version_refuses_what_pep_440_cannot_express(value: str, match: str) -> None:
    with pytest.raises(VersionError, match=match):
        version.python_version(value)


@pytest.mark.parametrize(
    "value", ["1!1.0.0", "1.0.0.post1", "1.0", "1.0.0.0", "1.0.0+local", "1.0.0rc1.dev2", "banana"]
)
def test_semver_of_python_refuses_forms_the_toolkit_never_writes(value: str) -> None:
    with pytest.raises(VersionError, match=rf"`{re.escape(value)}` in f:1 is not a release"):
        version.semver_of_python(value, "f:1")


@pytest.mark.parametrize(
    ("old", "part", "to", "token", "expected"),
    [
        ("1.4.2", "prerelease", None, "dev", "1.4.3-dev.1"),
        ("1.4.3-dev.1", "prerelease", None, "dev", "1.4.3-dev.2"),
        ("1.4.2", "prerelease", None, "alpha", "1.4.3-alpha.1"),
        ("1.4.3-dev.2", None, "1.4.3-rc.1", "rc", "1.4.3-rc.1"),
        ("1.4.3-alpha.1", None, "1.4.3-beta.1", "rc", "1.4.3-beta.1"),
        ("1.4.3-rc.1", "release", None, "rc", "1.4.3"),
    ],
)
def test_bump_through_pre_releases(
    old: str, part: str | None, to: str | None, token: str, expected: str
) -> None:
    assert version.bump_version(old, part, to, token) == expected


@pytest.mark.parametrize(
    ("old", "part", "to", "token", "match"),
    [
        ("1.4.2", "prerelease", None, "nightly", r"--pre-token `nightly` cannot be released"),
        ("1.4.2", "prerelease", None, "pre", r"--pre-token `pre`.*dev, alpha, beta or rc"),
        ("1.4.2", None, "1.5.0-nightly.1", "rc", r"`nightly\.1`, which Python packages cannot"),
        ("1.5.0-alpha.1", None, "1.5.0-dev.1", "rc", r"PEP 440 orders 1\.5\.0\.dev1 before 1\.5"),
        ("1.5.0-beta.2", None, "1.5.0-dev.9", "rc", r"higher than `1\.5\.0-beta\.2` as semver"),
    ],
)
def test_bump_refuses_versions_python_cannot_order(
    old: str, part: str | None, to: str | None, token: str, match: str
) -> None:
    with pytest.raises(VersionError, match=match):
        version.bump_version(old, part, to, token)


def test_a_pre_release_writes_pep_440_into_python_sites_and_semver_elsewhere(make_repo) -> None:
    root = make_repo()
    ws = load(root)
    version.apply(ws, version.plan_bump(ws, to="2.0.0-rc.1"))
    forms = {(f.site.kind, f.value) for f in version.read(ws)}
    assert forms == {
        ("pyproject", "2.0.0rc1"),
        ("pin in app", "2.0.0rc1"),
        ("pin in tool", "2.0.0rc1"),
        ("__version__", "2.0.0-rc.1"),
        ("chart version", "2.0.0-rc.1"),
        ("chart appVersion", "2.0.0-rc.1"),
    }
    assert version.check(ws) == dict.fromkeys(["core", "app", "tool", "site"], "2.0.0-rc.1")
    assert version.current(ws)["core"] == "2.0.0-rc.1"


def test_check_wants_the_pep_440_form_in_python_sites(make_repo) -> None:
    root = make_repo(version="2.0.0-rc.1")
    pyproject = root / "packages/core/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"2.0.0rc1"', '"2.0.0-rc.1"'))
    with pytest.raises(
        VersionError,
        match=r"pyproject.toml:\d+ \(pyproject of core\) holds 2\.0\.0-rc\.1, expected 2\.0\.0rc1",
    ):
        version.check(load(root))


def test_independent_bump_to_aligns_a_drifting_package(make_repo) -> None:
    root = make_repo(policy="independent")
    init = root / "packages/site/src/demo_site/__init__.py"
    init.write_text(init.read_text().replace("1.4.2", "1.4.0"))
    with pytest.raises(VersionError, match=r"version\.bump --package NAME --to X\.Y\.Z"):
        version.check(load(root))
    ws = load(root)
    version.apply(ws, version.plan_bump(ws, to="1.5.0", package="site"))
    assert version.check(load(root))["site"] == "1.5.0"


def test_lockstep_bump_to_aligns_drifting_sites(make_repo) -> None:
    root = make_repo()
    pyproject = root / "packages/site/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.4.2"', 'version = "1.4.0"'))
    ws = load(root)
    version.apply(ws, version.plan_bump(ws, to="1.5.0"))
    assert set(version.check(load(root)).values()) == {"1.5.0"}
