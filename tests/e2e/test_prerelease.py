"""Pre-releases are released like any version: a dev pre-release, an rc, then the release.

A fresh copy of this repository (pinned to 0.1.0) is released three times into its own
sandbox. Each time every artifact is built, published, signed, verified at its destination
and deployed to the pilot; Python files and pins carry the PEP 440 form of the version
(``0.1.1.dev1``, ``0.1.1rc1``), tags, images and charts the semver one.
"""

from __future__ import annotations

import json
import re
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.e2e.test_release import (
    CANARY_REGISTRY,
    CANARY_TWINE,
    IMAGES,
    OUTPUTS,
    Repo,
    _digest,
    _index,
    _tags,
    git,
    sandbox_repo,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

DISTS = ("ironcage_sandbox", "ironcage_agent_runtime", "ironcage_cli")
RELEASES = [
    (("--part", "prerelease", "--pre-token", "dev"), "0.1.1-dev.1", "0.1.1.dev1"),
    (("--to", "0.1.1-rc.1"), "0.1.1-rc.1", "0.1.1rc1"),
    (("--part", "release"), "0.1.1", "0.1.1"),
]


@pytest.fixture(scope="module")
def pre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    r = sandbox_repo(
        tmp_path_factory.mktemp("e2e-pre"),
        "docker", "helm", "cosign", "terraform", "docker-registry", "docker-compose",
    )  # fmt: skip
    yield r
    r.invoke("sandbox.down", "--purge", ok=False)


def _installed_cli(repo: Repo, requirement: str, folder: Path) -> str:
    """``ironcage version`` of ``requirement`` installed from the sandbox index alone."""
    index = repo.sandbox()["pypi_url"] + "/simple/"
    venv.create(folder, with_pip=True)
    subprocess.run(
        [folder / "bin/python", "-m", "pip", "install", "-q", "--index-url", index, requirement],
        check=True,
    )
    return subprocess.run(
        [folder / "bin/ironcage", "version"], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_dev_and_rc_pre_releases_then_the_release(pre: Repo, tmp_path: Path) -> None:
    pre.invoke("sandbox.up")
    host = pre.sandbox()["registry_host"]
    remote = pre.path / ".sandbox/remote.git"
    published: set[str] = set()
    for number, (args, version, python) in enumerate(RELEASES):
        if number:
            pre.commit("packages/cli/README.md", f"fix: change {number} before {version}")
        pre.invoke("release", "--yes", *args)

        assert f"v{version}" in git(remote, "tag").split()
        cli = (pre.path / "packages/cli/pyproject.toml").read_text()
        assert f'version = "{python}"' in cli and f'"ironcage-sandbox=={python}"' in cli
        init = (pre.path / "packages/cli/src/ironcage_cli/__init__.py").read_text()
        assert f'__version__ = "{version}"' in init
        published |= {
            *(f"{dist}-{python}-py3-none-any.whl" for dist in DISTS),
            *(f"{dist}-{python}.tar.gz" for dist in DISTS),
        }
        assert set(_index(pre)) == published
        recorded = json.loads((pre.path / f"dist/{version}/images.json").read_text())
        for image in IMAGES:
            assert version in _tags(host, f"ironcage/{image}")
            assert recorded[image]["digest"] == _digest(host, f"ironcage/{image}", version)
        for chart in ("control-panel", "agent-runtime"):
            assert version in _tags(host, f"charts/{chart}")
        verified = json.loads(pre.invoke("verify", "--json").stdout)
        assert verified["ok"] is True and verified["failures"] == [], verified
        assert verified["version"] == version
        assert (pre.path / f"dist/{version}/bin/ironcage-{version}-linux-x86_64").is_file()
        installed = _installed_cli(pre, f"ironcage-cli=={python}", tmp_path / f"venv{number}")
        assert installed == f"ironcage {version}"
    pre.invoke("version.check")
    _report_renders_and_the_summary_lists_the_same_artifacts(pre, "0.1.1", tmp_path)
    assert [s for text in OUTPUTS for s in (CANARY_TWINE, CANARY_REGISTRY) if s in text] == []
    assert git(pre.path, "log", "--format=%s", "--grep=chore(release)").splitlines() == [
        "chore(release): v0.1.1",
        "chore(release): v0.1.1-rc.1",
        "chore(release): v0.1.1-dev.1",
    ]


def _report_renders_and_the_summary_lists_the_same_artifacts(
    repo: Repo, version: str, tmp_path: Path
) -> None:
    """report.html in Chromium: the version, a bar per step, the build's Gantt chart, and
    one row per shipped artifact; nothing fetched. `--summary` appends the same rows."""
    from playwright.sync_api import sync_playwright

    folder = repo.path / f"dist/{version}"
    record = json.loads((folder / "release.json").read_text())
    assert "report.html" not in (folder / "SHA256SUMS").read_text()
    assert "report.html" not in record["artifacts"]
    files = [rel for rel in record["artifacts"] if rel.startswith(("bin/", "site/"))]
    shipped = {
        *(f"python/{name}" for name in record["python"]),
        *record["images"],
        *record["charts"],
        *record["third_party"],
        *files,
    }
    recorded = json.loads(repo.path.joinpath("build/release/state.json").read_text())["steps"]
    steps = [name for name in recorded if name != "report"]  # the page is the report's work
    fetched: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=require("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda request: fetched.append(request.url))
        page.goto((folder / "report.html").as_uri())
        assert page.inner_text("#version") == version
        shown = page.locator("#steps-table tr.step td:first-child").all_inner_texts()
        assert sorted(shown) == sorted(steps)
        assert page.locator("#step-timeline rect.step").count() == len(steps)
        assert page.locator("#build-gantt rect.crit").count() >= 1
        assert (page.locator("#build-gantt").bounding_box() or {}).get("width", 0) > 500
        rows = page.locator("tr.artifact").evaluate_all("rows => rows.map(r => r.dataset.name)")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert sorted(rows) == sorted(shipped)
    assert [url for url in fetched if not url.startswith("file:")] == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step's summary\n")
    repo.invoke("release", "--yes", "--summary", str(summary))
    text = summary.read_text()
    assert text.startswith("earlier step's summary\n") and f"## Release {version}" in text
    listed = re.findall(
        r"^\| (?:sdist|wheel|binary|site|image|chart|third-party) \| (\S+) \|", text, re.M
    )
    assert sorted(listed) == sorted(shipped)
    # The sandbox signs every image (its index and each platform) and every chart.
    signatures = re.findall(
        r"^\| (?:image|chart) \| \S+ \| [^|]* \| [^|]* \| ([^|]*) \|", text, re.M
    )
    assert len(signatures) == len(record["images"]) + len(record["charts"])
    assert all(cell.startswith("cosign: ") for cell in signatures), signatures
