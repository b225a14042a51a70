"""The image engine without a Docker engine: tags, specs, base images, SBOM, Dockerfiles."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import docker.errors
import pytest

from releasekit.build import images
from releasekit.build.images import bases, sbom
from releasekit.build.images.prime import commit_free_stages
from releasekit.core import manifest, workspace
from releasekit.core.errors import ManifestError, PreflightError, PublishError, VersionError
from releasekit.publish.registry import split_registry
from tests.conftest import REPO

DOCKERFILES = sorted((REPO / "docker").glob("*.Dockerfile"))


@pytest.mark.parametrize(
    ("version", "sha", "expected"),
    [
        ("1.4.2", "abc1234", ["1.4.2", "1.4", "1", "latest", "sha-abc1234"]),
        ("7.3.1", "0123456", ["7.3.1", "7.3", "7", "latest", "sha-0123456"]),
        ("2.0.0-rc.1", "abc1234", ["2.0.0-rc.1", "sha-abc1234"]),
        ("1.0.0-alpha", None, ["1.0.0-alpha"]),
        ("3.2.1", None, ["3.2.1", "3.2", "3", "latest"]),
    ],
)
def test_tags_for(version: str, sha: str | None, expected: list[str]) -> None:
    assert images.tags_for(version, sha) == expected


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.2", "not a valid semantic version"),
        ("v1.2.3", "not a valid semantic version"),
        ("1.2.3+build.5", "build metadata"),
    ],
)
def test_tags_for_refuses_bad_versions(version: str, message: str) -> None:
    with pytest.raises(VersionError, match=message):
        images.tags_for(version, "abc1234")


def test_tags_for_refuses_a_bad_sha() -> None:
    with pytest.raises(ValueError, match="not a commit id"):
        images.tags_for("1.0.0", "main")


def _repo_ws() -> workspace.Workspace:
    return workspace.load(manifest.load(REPO))


def test_specs_of_the_monorepo() -> None:
    found = {s.name: s for s in images.specs(_repo_ws())}
    assert sorted(found) == [
        "agent-runtime",
        "control-panel-api",
        "control-panel-web",
        "marketing-site",
    ]
    table = {
        name: (s.package, s.base_arg, s.dists, s.site, s.dockerfile) for name, s in found.items()
    }
    assert table == {
        "agent-runtime": (
            "agent-runtime",
            "PYTHON_BASE",
            ("ironcage-sandbox", "ironcage-agent-runtime"),
            False,
            "docker/agent-runtime.Dockerfile",
        ),
        "control-panel-api": (
            "control-panel",
            "PYTHON_BASE",
            ("ironcage-control-panel",),
            False,
            "docker/control-panel-api.Dockerfile",
        ),
        "control-panel-web": (
            "control-panel",
            "NGINX_BASE",
            (),
            False,
            "docker/control-panel-web.Dockerfile",
        ),
        "marketing-site": (
            "marketing-site",
            "NGINX_BASE",
            (),
            True,
            "docker/marketing-site.Dockerfile",
        ),
    }


def test_specs_narrow_by_package_and_image() -> None:
    ws = _repo_ws()
    assert [s.name for s in images.specs(ws, ["control-panel"])] == [
        "control-panel-api",
        "control-panel-web",
    ]
    assert [s.name for s in images.specs(ws, images=["marketing-site"])] == ["marketing-site"]
    with pytest.raises(ManifestError, match="Unknown image `nope`"):
        images.specs(ws, images=["nope"])
    with pytest.raises(ManifestError, match="Unknown package `nope`"):
        images.specs(ws, ["nope"])


def test_spec_without_its_dockerfile_is_a_manifest_error(make_repo: Callable[..., Path]) -> None:
    root = make_repo()
    (root / "docker" / "app.Dockerfile").unlink()
    with pytest.raises(ManifestError, match=r"docker/app\.Dockerfile does not exist"):
        images.specs(workspace.load(manifest.load(root)))


class _Image:
    def __init__(self, ref: str) -> None:
        self.id = "sha256:" + ref.encode().hex()[:64].ljust(64, "0")


class _Images:
    """Local images by reference; pulls always fail (as without a registry)."""

    def __init__(self, present: set[str]) -> None:
        self.present = present

    def get(self, ref: str) -> _Image:
        if ref not in self.present:
            raise docker.errors.ImageNotFound(ref)
        return _Image(ref)

    def pull(self, ref: str) -> _Image:
        raise docker.errors.APIError(f"pull access denied for {ref}")


class _Client:
    def __init__(self, *present: str) -> None:
        self.images = _Images(set(present))


@pytest.mark.parametrize(
    ("present", "environ", "expected"),
    [
        (
            {"python:3.11-slim-bookworm", "releasekit-base/python:3.11-bookworm"},
            {},
            ("python:3.11-slim-bookworm", "public"),
        ),
        (
            {"releasekit-base/python:3.11-bookworm"},
            {},
            ("releasekit-base/python:3.11-bookworm", "local"),
        ),
        (
            {"mine/python:3.11", "python:3.11-slim-bookworm"},
            {"PYTHON_BASE": "mine/python:3.11"},
            ("mine/python:3.11", "env"),
        ),
    ],
)
def test_resolve_base_images(
    present: set[str], environ: dict[str, str], expected: tuple[str, str], tmp_path: Path
) -> None:
    record = tmp_path / "base-images"
    record.write_text(" ".join([LOCAL_PY, _Image(LOCAL_PY).id]) + "\n")
    environ = {**environ, bases.RECORD_ENV: str(record)}
    found = images.resolve_base_images(_Client(*present), ["PYTHON_BASE"], environ)
    assert (found["PYTHON_BASE"].ref, found["PYTHON_BASE"].source) == expected


LOCAL_PY = "releasekit-base/python:3.11-bookworm"
PINNED_PY = "python:3.11-slim-bookworm@sha256:" + "ab" * 32


def test_the_pinned_public_base_wins(tmp_path: Path) -> None:
    client = _Client(PINNED_PY, "python:3.11-slim-bookworm", LOCAL_PY)
    environ = {bases.RECORD_ENV: str(tmp_path / "none")}
    found = images.resolve_base_images(
        client, ["PYTHON_BASE"], environ, pinned={"PYTHON_BASE": PINNED_PY}
    )
    assert (found["PYTHON_BASE"].ref, found["PYTHON_BASE"].source) == (PINNED_PY, "public")


@pytest.mark.parametrize(
    ("record", "match"),
    [
        (
            None,
            r"(?s)releasekit-base/python:3\.11-bookworm \(id sha256:\w+\) has no recorded id"
            r".*`sudo docker/base/bootstrap\.sh`",
        ),
        (
            f"{LOCAL_PY} sha256:{'0' * 64}\n",
            rf"(?s){LOCAL_PY} is sha256:\w+, but .*records sha256:{'0' * 64}.*FORCE=1.*RECORD=1",
        ),
    ],
)
def test_a_local_base_must_be_the_recorded_image(
    tmp_path: Path, record: str | None, match: str
) -> None:
    path = tmp_path / "base-images"
    if record is not None:
        path.write_text(record)
    with pytest.raises(PreflightError, match=match):
        images.resolve_base_images(
            _Client(LOCAL_PY),
            ["PYTHON_BASE"],
            {bases.RECORD_ENV: str(path)},
            pinned={"PYTHON_BASE": PINNED_PY},
        )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {},
            r"neither nginx:1\.27-bookworm nor releasekit-base/nginx:bookworm.*bootstrap\.sh",
        ),
        ({"NGINX_BASE": "mine/nginx:1"}, r"NGINX_BASE=mine/nginx:1 \(from the environment\)"),
    ],
)
def test_missing_base_image_names_both_and_the_fix(environ: dict[str, str], message: str) -> None:
    with pytest.raises(PreflightError, match=message):
        images.resolve_base_images(_Client(), ["NGINX_BASE"], environ)


def test_engine_down_names_docker_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", host)
    with pytest.raises(PreflightError, match=rf"DOCKER_HOST={re.escape(host)}.*dockerd"):
        images.connect()


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("127.0.0.1:5000", ("127.0.0.1:5000", "ironcage")),
        ("ghcr.io/acme", ("ghcr.io", "acme")),
        ("https://registry.example.com/team/sub/", ("registry.example.com", "team/sub")),
    ],
)
def test_split_registry(registry: str, expected: tuple[str, str]) -> None:
    assert split_registry(registry) == expected


@pytest.mark.parametrize("registry", ["", "/ironcage", "host name", "user@host"])
def test_split_registry_refuses_garbage(registry: str) -> None:
    with pytest.raises(PublishError, match="is not HOST"):
        split_registry(registry)


INVENTORY = """debian 12
----releasekit-sbom----
base-files\t12.4+deb12u5\tamd64
libc6\t2.36-9+deb12u4\tamd64
tzdata\t2024a-0+deb12u1\tall
----releasekit-sbom----
[["ironcage_sandbox", "7.3.1"], ["Ironcage-Agent-Runtime", "7.3.1"]]
"""


def test_parse_inventory_gives_purls() -> None:
    found = sbom.parse_inventory(INVENTORY)
    assert [c.purl for c in found] == [
        "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12",
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12",
        "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12",
        "pkg:pypi/ironcage-agent-runtime@7.3.1",
        "pkg:pypi/ironcage-sandbox@7.3.1",
    ]


def test_image_bom_is_cyclonedx_1_5() -> None:
    image_id = "sha256:" + "ab" * 32
    bom = sbom.image_bom(
        "agent-runtime", "1.2.3", image_id, sbom.parse_inventory(INVENTORY), timestamp=0
    )
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.5")
    assert bom["metadata"]["timestamp"] == "1970-01-01T00:00:00Z"
    assert bom["metadata"]["component"]["type"] == "container"
    assert bom["metadata"]["component"]["purl"] == (
        f"pkg:oci/agent-runtime@sha256%3A{'ab' * 32}?tag=1.2.3"
    )
    assert len(bom["components"]) == 5
    assert bom["dependencies"][0]["dependsOn"] == [c["purl"] for c in bom["components"]]
    again = sbom.image_bom("agent-runtime", "1.2.3", image_id, [], timestamp=0)
    assert again["serialNumber"] == bom["serialNumber"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_builds_offline_on_the_builtin_frontend(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"(?im)^#\s*syntax=", text), f"{path.name} would pull its frontend"
    assert re.search(r"(?m)^ARG (PYTHON|NGINX)_BASE=", text)
    assert re.search(r"(?m)^USER 10001:10001$", text)
    assert re.search(r"(?m)^HEALTHCHECK ", text)
    assert re.search(r'(?m)^CMD \["', text), "CMD must be in exec form"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_python_dockerfiles_install_from_the_wheelhouse_only(path: Path) -> None:
    text = path.read_text()
    if "PYTHON_BASE" not in text:
        return
    # The venv of pure-Python wheels is made natively, then copied into each platform.
    assert re.search(r"(?m)^FROM --platform=\$BUILDPLATFORM \$\{PYTHON_BASE\} AS builder$", text)
    assert "--no-index --find-links /wheels" in text
    assert f"COPY build/wheelhouse/{path.name.removesuffix('.Dockerfile')}/ /wheels/" in text
    assert "COPY --from=builder /opt/venv /opt/venv" in text
    # pip comes from a stage of its own, mounted: the image holds no pip.
    assert "RUN python3 -m venv --without-pip /opt/venv" in text


def test_dockerignore_sends_only_what_the_dockerfiles_copy() -> None:
    lines = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        src.rstrip("/")
        for path in DOCKERFILES
        for src in re.findall(r"(?m)^COPY (?!--from)(\S+)", path.read_text())
    }
    for src in copied:
        assert any(src == a or src.startswith(a + "/") for a in allowed), src


@pytest.mark.parametrize(
    ("version", "released", "expected"),
    [
        ("1.3.5", ["1.3.4", "1.4.0"], ["1.3.5", "1.3"]),
        ("1.4.1", ["1.4.0", "1.3.5"], ["1.4.1", "1.4", "1", "latest"]),
        ("1.3.5", ["1.3.4", "2.0.0-rc.1"], ["1.3.5", "1.3", "1", "latest"]),
        ("0.9.9", ["1.0.0", "not-a-version"], ["0.9.9", "0.9", "0"]),
        ("1.3.5", ["1.3.5"], ["1.3.5", "1.3", "1", "latest"]),
    ],
)
def test_moving_tags_move_only_to_the_highest_of_their_line(
    version: str, released: list[str], expected: list[str]
) -> None:
    assert images.tags_for(version, None, released) == expected


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_stage_declares_source_date_epoch_before_its_first_run(path: Path) -> None:
    """A RUN step is then cached per commit time: one reused from an older commit would
    keep file times older than SOURCE_DATE_EPOCH, which rewrite-timestamp does not clamp.
    A stage only ever mounted into a RUN step (a build tool, such as pip) is exempt."""
    text = path.read_text()
    mounted = set(re.findall(r"--mount=type=bind,from=([\w-]+)", text))
    assert mounted.isdisjoint(re.findall(r"(?m)^COPY --from=([\w-]+)", text))
    for stage in re.split(r"(?m)^FROM ", text)[1:]:
        if stage.splitlines()[0].rpartition(" AS ")[2] in mounted:
            continue
        before_run = stage.split("\nRUN ", 1)[0]
        if "\nRUN " in stage:
            assert re.search(r"(?m)^ARG SOURCE_DATE_EPOCH$", before_run), stage.splitlines()[0]


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        ("control-panel-api.Dockerfile", ["pip"]),
        ("agent-runtime.Dockerfile", ["pip"]),
        ("control-panel-web.Dockerfile", []),
        ("marketing-site.Dockerfile", []),
    ],
)
def test_commit_free_stages_of_the_dockerfiles(dockerfile: str, expected: list[str]) -> None:
    """What priming builds ahead: the stages that copy nothing and ignore the commit time."""
    text = (REPO / "docker" / dockerfile).read_text()
    assert commit_free_stages(text) == expected


def test_a_stage_that_copies_or_reads_the_commit_time_is_not_commit_free() -> None:
    text = (
        "ARG BASE=python\n"
        "FROM --platform=$BUILDPLATFORM ${BASE} AS tools\nRUN make-tools\n"
        "FROM ${BASE} AS stamped\nARG SOURCE_DATE_EPOCH\nRUN date\n"
        "FROM ${BASE} AS copied\nCOPY . /src\n"
        "from ${BASE} as lower\nrun true\n"
        "FROM ${BASE}\nRUN true\n"
    )
    assert commit_free_stages(text) == ["tools", "lower"]
