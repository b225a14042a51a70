"""The pilot deployment's logic: compose argv, history, health verdicts, automatic rollback.

Compose is replaced by a runner that "deploys" by switching the version a real local HTTP
server reports, so deploy, health and rollback run their real code paths in milliseconds.
"""

from __future__ import annotations

import json
import re
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from releasekit.core import run
from releasekit.core.errors import PreflightError, PublishError, ToolError
from releasekit.deploy import health, pilot, pilot_pins


@dataclass
class FakePilot(run.Runner):
    """Plays `docker-compose`: `up` makes the health server report IRONCAGE_VERSION."""

    version: str | None = None
    unhealthy: set[str] = field(default_factory=set)
    crashing: set[str] = field(default_factory=set)
    unpublished: set[str] = field(default_factory=set)
    calls: list[tuple[tuple[str, ...], dict[str, str]]] = field(default_factory=list)

    def __call__(  # type: ignore[override]
        self,
        argv: Sequence[str | Path],
        *,
        env: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        **_: object,
    ) -> run.Result:
        args = tuple(str(a) for a in argv)
        run.child_env(env, secrets)  # a secret in env= is refused as the real runner does
        variables = {**(env or {}), **(secrets or {})}
        self.calls.append((args, variables))
        wanted = variables.get("IRONCAGE_VERSION", "")
        if "pull" in args and wanted in self.unpublished:
            raise ToolError(list(args), 1, f"manifest for {wanted} not found")
        if "up" in args:
            if wanted in self.crashing:
                raise ToolError(
                    list(args), 1, 'ERROR: for control-panel-web  Container "x" is unhealthy.'
                )
            self.version = wanted
        if "down" in args:
            self.version = None
        return run.Result(args, 0, "", "")


def _serve(fake: FakePilot) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if fake.version is None:
                self.send_error(502)
                return
            code = 500 if fake.version in fake.unhealthy else 200
            body = json.dumps({"status": "ok", "version": fake.version}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    return server


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakePilot:
    runner = FakePilot(echo=False)
    monkeypatch.setattr(run, "runner", runner)
    monkeypatch.setattr(pilot, "compose_command", lambda: ("docker-compose",))
    monkeypatch.delenv("PILOT_PORT", raising=False)
    monkeypatch.delenv("CONTROL_PANEL_TOKEN", raising=False)
    return runner


@pytest.fixture
def port(fake: FakePilot) -> Iterator[int]:
    server = _serve(fake)
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def root(tmp_path: Path, repo_root: Path) -> Path:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "compose.yaml").write_bytes(
        (repo_root / "docker" / "compose.yaml").read_bytes()
    )
    return tmp_path


def _deploy(root: Path, version: str, port: int) -> pilot.Deployment:
    return pilot.deploy(root, version, "127.0.0.1:5000", port=port, timeout=0)


def _trail(root: Path) -> list[tuple[str, str, str]]:
    return [(e.version, e.status, e.action) for e in pilot.history(root)]


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (("docker", "compose"), ["docker", "compose", "-p", "p1", "-f"]),
        (("docker-compose",), ["docker-compose", "-p", "p1", "-f"]),
    ],
)
def test_compose_argv(base: tuple[str, ...], expected: list[str], tmp_path: Path) -> None:
    argv = pilot.compose_argv(base, pilot.Settings(project="p1"), tmp_path, "up", "-d")
    assert argv == [*expected, str(tmp_path / "docker" / "compose.yaml"), "up", "-d"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:5555", "127.0.0.1:5555/ironcage"),
        ("127.0.0.1:5555/", "127.0.0.1:5555/ironcage"),
        ("ghcr.io/acme", "ghcr.io/acme"),
    ],
)
def test_registry_path(given: str, expected: str) -> None:
    assert pilot.registry_path(given) == expected


def test_compose_env_names_every_variable_the_compose_file_reads(repo_root: Path) -> None:
    digest = "sha256:" + "a" * 64
    env = pilot.compose_env(
        "r/ironcage",
        "1.2.3",
        "tok-en",
        9000,
        runtime_token="rt",
        digests={"control-panel-api": digest},
    )
    text = (repo_root / "docker" / "compose.yaml").read_text()
    assert env == {
        "IRONCAGE_REGISTRY": "r/ironcage",
        "IRONCAGE_VERSION": "1.2.3",
        "CONTROL_PANEL_TOKEN": "tok-en",
        "AGENT_RUNTIME_TOKEN": "rt",
        "PILOT_PORT": "9000",
        "CONTROL_PANEL_API_DIGEST": f"@{digest}",
        "CONTROL_PANEL_WEB_DIGEST": "",
        "AGENT_RUNTIME_DIGEST": "",
    }
    assert all(name in text for name in env)
    services = yaml.safe_load(text)["services"]
    assert set(services) == set(pilot_pins.PILOT_IMAGES)
    for name, service in services.items():
        variable = pilot_pins.digest_variable(name)
        tail = rf":\$\{{IRONCAGE_VERSION:-[^}}]+\}}\$\{{{variable}:-\}}$"
        assert re.search(tail, service["image"]), service["image"]


@pytest.mark.parametrize(
    ("api", "web", "expected", "ok", "detail"),
    [
        ((200, "1.0.0"), (200, "1.0.0"), "1.0.0", True, "healthy"),
        ((200, "1.0.0"), (200, None), None, True, "healthy"),
        ((500, "1.0.0"), (200, "1.0.0"), "1.0.0", False, "/api/health answered HTTP 500"),
        ((None, None), (200, "1.0.0"), None, False, "/api/health did not answer"),
        ((200, "0.9.0"), (200, "1.0.0"), "1.0.0", False, "reports version 0.9.0, expected"),
        ((200, "1.0.0"), (200, "0.9.0"), "1.0.0", False, "/health reports version 0.9.0"),
        ((200, None), (200, None), "1.0.0", False, "/api/health reports no version"),
    ],
)
def test_judge(
    api: tuple[int | None, str | None],
    web: tuple[int | None, str | None],
    expected: str | None,
    ok: bool,
    detail: str,
) -> None:
    checks = [health.Check("/api/health", *api), health.Check("/health", *web)]
    verdict = health.judge("http://127.0.0.1:1", checks, expected)
    assert verdict.ok is ok
    assert detail in verdict.detail


def _entry(version: str, status: pilot.Status = "healthy") -> pilot.Deployment:
    return pilot.Deployment(version, "2024-01-01T00:00:00+00:00", status)


@pytest.mark.parametrize(
    ("trail", "to", "expected"),
    [
        (["1.0.0", "1.1.0"], None, "1.0.0"),
        (["1.0.0", "1.1.0", "1.0.0"], None, "1.1.0"),
        (["1.0.0", "1.1.0", "1.2.0"], "1.0.0", "1.0.0"),
        (["1.0.0", "1.1.0", "1.2.0!"], None, "1.1.0"),
        (["1.0.0", "1.1.0!", "1.0.0"], None, None),
    ],
)
def test_rollback_target(trail: list[str], to: str | None, expected: str | None) -> None:
    entries = [_entry(v.rstrip("!"), "failed" if v.endswith("!") else "healthy") for v in trail]
    if expected is None:
        with pytest.raises(PublishError, match=r"nothing to roll back to: only 1\.0\.0"):
            pilot.rollback_target(entries, to)
    else:
        assert pilot.rollback_target(entries, to).version == expected


@pytest.mark.parametrize(
    ("to", "message"),
    [("3.0.0", r"never healthy there\. Healthy versions: 1\.0\.0, 2\.0\.0"), ("2.0.0", "already")],
)
def test_rollback_target_refuses(to: str, message: str) -> None:
    with pytest.raises(PublishError, match=message):
        pilot.rollback_target([_entry("1.0.0"), _entry("2.0.0")], to)


def test_deploy_health_and_rollback(root: Path, port: int, fake: FakePilot) -> None:
    assert _deploy(root, "1.0.0", port).status == "healthy"
    assert _deploy(root, "1.1.0", port).status == "healthy"
    assert pilot.health(root, "1.1.0", timeout=0).ok
    back = pilot.rollback(root, timeout=0)
    assert (back.version, back.status, fake.version) == ("1.0.0", "healthy", "1.0.0")
    assert pilot.health(root, "1.0.0", timeout=0).version == "1.0.0"
    assert not pilot.health(root, "1.1.0", timeout=0).ok
    assert _trail(root) == [
        ("1.0.0", "healthy", "deploy"),
        ("1.1.0", "healthy", "deploy"),
        ("1.0.0", "healthy", "rollback"),
    ]


@pytest.mark.parametrize("failure", ["unhealthy", "crashing"])
def test_failed_deploy_rolls_back_by_itself(
    root: Path, port: int, fake: FakePilot, failure: str
) -> None:
    getattr(fake, failure).add("2.0.0")
    _deploy(root, "1.0.0", port)
    _deploy(root, "1.1.0", port)
    with pytest.raises(PublishError, match=r"Deploying 2\.0\.0 .* Rolled back to 1\.1\.0"):
        _deploy(root, "2.0.0", port)
    assert fake.version == "1.1.0"
    assert _trail(root)[-2:] == [
        ("2.0.0", "failed", "deploy"),
        ("1.1.0", "healthy", "auto-rollback"),
    ]
    assert pilot.rollback(root, timeout=0).version == "1.0.0"


def test_first_deploy_failing_has_nothing_to_roll_back_to(
    root: Path, port: int, fake: FakePilot
) -> None:
    fake.unhealthy.add("1.0.0")
    with pytest.raises(PublishError, match="No earlier version was ever healthy"):
        _deploy(root, "1.0.0", port)
    assert _trail(root) == [("1.0.0", "failed", "deploy")]


def test_rollback_needs_an_earlier_version(root: Path, port: int) -> None:
    with pytest.raises(PreflightError, match="Nothing was ever deployed to the pilot"):
        pilot.rollback(root)
    _deploy(root, "1.0.0", port)
    _deploy(root, "1.0.0", port)
    with pytest.raises(
        PublishError, match=r"nothing to roll back to: only 1\.0\.0 was ever deployed"
    ):
        pilot.rollback(root)


def test_unpublished_images_leave_the_running_deployment_alone(
    root: Path, port: int, fake: FakePilot
) -> None:
    _deploy(root, "1.0.0", port)
    fake.unpublished.add("1.1.0")
    with pytest.raises(PublishError, match=r"images 1\.1\.0 could not be pulled"):
        _deploy(root, "1.1.0", port)
    assert (fake.version, _trail(root)) == ("1.0.0", [("1.0.0", "healthy", "deploy")])


def test_token_is_generated_once_private_and_only_passed_as_a_secret(
    root: Path, port: int, fake: FakePilot
) -> None:
    _deploy(root, "1.0.0", port)
    _deploy(root, "1.1.0", port)
    token_file = pilot.pilot_dir(root) / "token"
    token = token_file.read_text()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert {env["CONTROL_PANEL_TOKEN"] for _, env in fake.calls} == {token}
    assert all(token not in " ".join(argv) for argv, _ in fake.calls)
    for path in pilot.pilot_dir(root).iterdir():
        assert path == token_file or token not in path.read_text()


def test_runtime_token_is_generated_once_apart_from_the_api_token(
    root: Path, port: int, fake: FakePilot
) -> None:
    _deploy(root, "1.0.0", port)
    _deploy(root, "1.1.0", port)
    runtime_file = pilot.pilot_dir(root) / "agent-runtime-token"
    runtime_token = runtime_file.read_text()
    assert stat.S_IMODE(runtime_file.stat().st_mode) == 0o600
    assert {env["AGENT_RUNTIME_TOKEN"] for _, env in fake.calls} == {runtime_token}
    assert runtime_token != (pilot.pilot_dir(root) / "token").read_text()
    assert all(runtime_token not in " ".join(argv) for argv, _ in fake.calls)


def test_token_from_the_environment_wins(
    root: Path, port: int, fake: FakePilot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTROL_PANEL_TOKEN", "from-the-environment")
    _deploy(root, "1.0.0", port)
    assert fake.calls[-1][1]["CONTROL_PANEL_TOKEN"] == "from-the-environment"
    assert not (pilot.pilot_dir(root) / "token").exists()


@pytest.mark.parametrize(("purge", "extra"), [(False, []), (True, ["--volumes"])])
def test_teardown(root: Path, port: int, fake: FakePilot, purge: bool, extra: list[str]) -> None:
    _deploy(root, "1.0.0", port)
    assert pilot.probe(root) == (f"http://127.0.0.1:{port}", True)
    pilot.teardown(root, purge=purge)
    compose = str(root / "docker" / "compose.yaml")
    assert list(fake.calls[-1][0]) == [
        "docker-compose",
        "-p",
        "ironcage-pilot",
        "-f",
        compose,
        "down",
        "--remove-orphans",
        *extra,
    ]
    assert pilot.probe(root) is None


def test_settings_are_remembered(root: Path, port: int, fake: FakePilot) -> None:
    pilot.deploy(root, "1.0.0", "127.0.0.1:5000", project="pilot-x", port=port, timeout=0)
    _deploy(root, "1.1.0", port)
    assert {argv[2] for argv, _ in fake.calls} == {"pilot-x"}
    assert {env["PILOT_PORT"] for _, env in fake.calls} == {str(port)}
    assert {env["IRONCAGE_REGISTRY"] for _, env in fake.calls} == {"127.0.0.1:5000/ironcage"}


@pytest.mark.parametrize("task", ["deploy", "health", "rollback"])
def test_unknown_environment_names_the_known_ones(
    task: str, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invoke.context import Context
    from invoke.exceptions import Exit

    from releasekit.commands import deploy

    monkeypatch.chdir(repo_root)
    with pytest.raises(Exit, match="known environments are pilot, cluster, dev, staging, prod"):
        getattr(deploy, task)(Context(), env="qa")


def test_the_pilot_runs_the_digests_recorded_for_its_registry(tmp_path: Path) -> None:
    from releasekit.core.artifact import ImagePin, write_images

    digest = "sha256:" + "b" * 64
    write_images(
        tmp_path / "dist" / "1.2.3" / "images.json",
        {
            "control-panel-api": ImagePin("r:5000/ironcage/control-panel-api", ("1.2.3",), digest),
            "agent-runtime": ImagePin("elsewhere/ironcage/agent-runtime", ("1.2.3",), digest),
        },
    )
    pins = pilot_pins.recorded(tmp_path, "1.2.3", "r:5000/ironcage")
    assert pins == {"control-panel-api": digest}
    assert pilot_pins.recorded(tmp_path, "9.9.9", "r:5000/ironcage") == {}
    assert pilot_pins.digest_vars(pins) == {
        "CONTROL_PANEL_API_DIGEST": f"@{digest}",
        "CONTROL_PANEL_WEB_DIGEST": "",
        "AGENT_RUNTIME_DIGEST": "",
    }


PARTIAL = "agent-runtime-1.1.0+cli-1.0.1"
DIGESTS = {
    "control-panel-api": "sha256:" + "a" * 64,
    "control-panel-web": "sha256:" + "b" * 64,
    "agent-runtime": "sha256:" + "c" * 64,
}


def _record_partial(root: Path, images: Sequence[str] = tuple(DIGESTS)) -> None:
    """dist/<PARTIAL>/images.json: agent-runtime released at 1.1.0, the control panel kept."""
    from releasekit.core.artifact import IMAGES_FILE, ImagePin, write_images

    tags = {"agent-runtime": ("1.1.0", "1.1", "1", "latest")}
    write_images(
        root / "dist" / PARTIAL / IMAGES_FILE,
        {
            name: ImagePin(f"127.0.0.1:5000/ironcage/{name}", tags.get(name, ("1.0.0",)), digest)
            for name, digest in DIGESTS.items()
            if name in images
        },
    )


def test_a_partial_release_runs_every_image_by_digest_and_answers_the_control_panel(
    root: Path, port: int, fake: FakePilot
) -> None:
    _deploy(root, "1.0.0", port)
    _record_partial(root)
    entry = _deploy(root, PARTIAL, port)
    assert (entry.status, entry.answers, fake.version) == ("healthy", "1.0.0", "1.0.0")
    assert entry.images == DIGESTS
    env = fake.calls[-1][1]
    assert env["IRONCAGE_VERSION"] == "1.0.0"  # a release id is no image tag
    for name, digest in DIGESTS.items():
        assert env[pilot_pins.digest_variable(name)] == f"@{digest}"
    _deploy(root, "1.1.0", port)
    for path in (root / "dist" / PARTIAL).iterdir():
        path.unlink()  # the rollback runs what the record says it ran
    back = pilot.rollback(root, PARTIAL, timeout=0)
    assert (back.status, back.answers, back.images) == ("healthy", "1.0.0", DIGESTS)
    assert fake.calls[-1][1]["AGENT_RUNTIME_DIGEST"] == f"@{DIGESTS['agent-runtime']}"
    assert [(e.version, e.app_version) for e in pilot.history(root)] == [
        ("1.0.0", ""),
        (PARTIAL, "1.0.0"),
        ("1.1.0", ""),
        (PARTIAL, "1.0.0"),
    ]


def test_a_partial_release_missing_a_digest_is_refused_before_compose_runs(
    root: Path, port: int, fake: FakePilot
) -> None:
    with pytest.raises(PublishError, match=rf"{re.escape(PARTIAL)}/images.json records no"):
        _deploy(root, PARTIAL, port)
    _record_partial(root, images=("control-panel-api", "control-panel-web"))
    with pytest.raises(PublishError, match=r"pins no digest in .* for agent-runtime"):
        _deploy(root, PARTIAL, port)
    assert (fake.calls, pilot.history(root)) == ([], [])
