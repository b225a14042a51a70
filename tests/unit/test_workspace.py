from __future__ import annotations

import re
from pathlib import Path

import pytest

from releasekit.core import manifest, workspace
from releasekit.core.errors import GraphError, ManifestError, ReleaseError

from .conftest import git


def load(root: Path) -> workspace.Workspace:
    return workspace.load(manifest.load(root))


def test_graph_from_package_dependencies(make_repo) -> None:
    ws = load(make_repo())
    assert sorted(ws.edges()) == [("app", "core"), ("tool", "core")]
    order = ws.order()
    assert order.index("core") < order.index("app")
    assert order.index("core") < order.index("tool")
    assert ws.dependents("core") == {"app", "tool"}


def test_repository_graph(repo_root: Path) -> None:
    ws = load(repo_root)
    assert ws.dependents("sandbox") == {"agent-runtime", "cli"}
    assert ws.order()[0] == "sandbox"


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ("packages/core/src/demo_core/__init__.py", ["core", "app", "tool"]),
        ("packages/site/README.md", ["site"]),
        ("docker/app.Dockerfile", ["app"]),
        ("README.md", []),
    ],
)
def test_affected_since_includes_dependents(make_repo, changed: str, expected: list[str]) -> None:
    root = make_repo()
    path = root / changed
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(path.read_text() + "\n# changed\n" if path.exists() else "new\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "fix: change")
    assert load(root).affected("HEAD~1") == expected


def test_affected_counts_uncommitted_and_untracked(make_repo) -> None:
    root = make_repo()
    (root / "packages" / "site" / "new.txt").write_text("x")
    assert load(root).affected("HEAD") == ["site"]


def test_affected_unknown_ref(make_repo) -> None:
    with pytest.raises(ReleaseError, match=r"`v9\.9\.9` is not a commit"):
        load(make_repo()).affected("v9.9.9")


@pytest.mark.parametrize(
    ("names", "dependents", "expected"),
    [
        (("app",), False, ["core", "app"]),
        (("core",), False, ["core"]),
        (("app", "tool"), False, ["core", "app", "tool"]),
        (("core",), True, ["core", "app", "tool"]),
        (("site",), True, ["site"]),
    ],
)
def test_closure_walks_the_graph_in_order(
    make_repo, names: tuple[str, ...], dependents: bool, expected: list[str]
) -> None:
    assert load(make_repo()).closure(*names, dependents=dependents) == expected


def test_closure_of_an_unknown_package_names_the_known_ones(make_repo) -> None:
    with pytest.raises(ManifestError, match=r"nope"):
        load(make_repo()).closure("nope")


@pytest.mark.parametrize(
    "requirement", ["Demo_Core>=1.0", "demo.core[extra]; python_version >= '3.8'", "DEMO-CORE"]
)
def test_requirement_names_are_normalised(make_repo, requirement: str) -> None:
    root = make_repo()
    app = root / "packages/app/pyproject.toml"
    app.write_text(re.sub(r'"demo-core==[^"]*"', f'"{requirement}"', app.read_text()))
    assert requirement in app.read_text()
    assert load(root).get("app").deps == ("core",)


def test_an_invalid_requirement_names_the_file(make_repo) -> None:
    root = make_repo()
    app = root / "packages/app/pyproject.toml"
    app.write_text(re.sub(r'"demo-core==[^"]*"', '"demo-core >>= 1"', app.read_text()))
    with pytest.raises(ManifestError, match=r"app/pyproject\.toml: dependency 'demo-core >>= 1'"):
        load(root)


def test_cycle_names_packages(make_repo) -> None:
    root = make_repo()
    core = root / "packages/core/pyproject.toml"
    core.write_text(core.read_text().replace("dependencies = []", 'dependencies = ["demo-app"]'))
    with pytest.raises(GraphError, match=r"cycle: .*(app -> core|core -> app)"):
        load(root).order()


def test_dist_name_mismatch(make_repo) -> None:
    root = make_repo()
    pyproject = root / "packages/site/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("demo-site", "other-site"))
    with pytest.raises(ManifestError, match=r"project\.name` is 'other-site'.*demo-site"):
        load(root)
