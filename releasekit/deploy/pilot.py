"""The pilot deployment: the control panel on this host with docker compose.

``docker/compose.yaml`` runs the API and the web front end as compose project
``ironcage-pilot``; the version, the registry, the API token and the host port reach it
through the environment only, each image pinned to its recorded digest (``pilot_pins``).
A partial independent release (a release id such as ``marketing-site-0.2.1``) runs every
image by the digest its images.json records, released or kept, and answers its control
panel's version. Every deployment is health-checked through the web's proxy and recorded,
with the digests it ran, in ``.sandbox/pilot/history.json``; a deployment that fails its
health check rolls back to the previous healthy one by itself and is reported as a failure.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from releasekit.core.errors import PreflightError, PublishError, ToolError
from releasekit.core.files import write_json
from releasekit.core.run import Result, register_secret, run
from releasekit.deploy import pilot_images, pilot_pins
from releasekit.deploy.compose import compose_command, compose_env
from releasekit.deploy.health import HEALTH_PATHS, Health, ask, judge
from releasekit.deploy.pilot_history import (
    Action,
    Deployment,
    Status,
    append,
    history,
    history_path,
    pilot_dir,
    previous_healthy,
    rollback_target,
)
from releasekit.publish.trust import Trust

__all__ = [
    "COMPOSE_FILE",
    "PROJECT",
    "Deployment",
    "Settings",
    "compose_argv",
    "compose_command",
    "compose_env",
    "deploy",
    "health",
    "history",
    "pilot_dir",
    "previous_healthy",
    "probe",
    "registry_path",
    "rollback",
    "rollback_target",
    "teardown",
]

PROJECT = "ironcage-pilot"
COMPOSE_FILE = "docker/compose.yaml"
DEFAULT_PORT = 8088
NAMESPACE = "ironcage"
HEALTH_TIMEOUT = 60.0


@dataclass(frozen=True)
class Settings:
    """Where the pilot runs: compose project, host port and compose file (relative to root)."""

    project: str = PROJECT
    port: int = DEFAULT_PORT
    compose_file: str = COMPOSE_FILE
    up: bool = False


def registry_path(registry: str) -> str:
    """Images' registry and namespace: a bare host[:port] gets the `ironcage` namespace."""
    registry = registry.rstrip("/")
    return registry if "/" in registry else f"{registry}/{NAMESPACE}"


def compose_argv(base: Sequence[str], settings: Settings, root: Path, *args: str) -> list[str]:
    """The compose command line for the pilot project."""
    return [*base, "-p", settings.project, "-f", str(root / settings.compose_file), *args]


_TOKENS = ("CONTROL_PANEL_TOKEN", "AGENT_RUNTIME_TOKEN")


def _compose(argv: list[str], root: Path, env: dict[str, str], timeout: float) -> Result:
    """Run one compose command with ``env``; its tokens travel as the call's secrets."""
    settings = {k: v for k, v in env.items() if k not in _TOKENS}
    tokens = {k: v for k, v in env.items() if k in _TOKENS}
    return run(argv, cwd=root, env=settings, secrets=tokens, timeout=timeout)


# --- state under .sandbox/pilot ---------------------------------------------------------


def _settings_path(root: Path) -> Path:
    return pilot_dir(root) / "pilot.json"


def _write(path: Path, data: object) -> None:
    write_json(path, data, redacted=False, mode=0o644)


def _settings(root: Path) -> Settings | None:
    path = _settings_path(root)
    if not path.is_file():
        return None
    return Settings(**json.loads(path.read_text(encoding="utf-8")))


def _configure(root: Path, project: str | None, port: int | None) -> Settings:
    old = _settings(root) or Settings()
    env_port = os.environ.get("PILOT_PORT", "")
    if env_port and not env_port.isdigit():
        raise PreflightError(f"PILOT_PORT is {env_port!r}; set it to a TCP port, e.g. 8088.")
    project = project or os.environ.get("PILOT_PROJECT") or old.project
    settings = replace(old, project=project, port=port or int(env_port or old.port))
    compose = root / settings.compose_file
    if not compose.is_file():
        raise PreflightError(
            f"{compose} is missing: the pilot deployment is defined there. Restore it from git."
        )
    _write(_settings_path(root), asdict(settings))
    return settings


def _require_settings(root: Path) -> Settings:
    settings = _settings(root)
    if settings is None:
        raise PreflightError(
            f"Nothing was ever deployed to the pilot ({_settings_path(root)} is missing): "
            "run `invoke deploy --env pilot --version X.Y.Z` first."
        )
    return settings


def _token(root: Path, token: str | None) -> str:
    return _secret(root, token, "CONTROL_PANEL_TOKEN", "token")


def _runtime_token(root: Path) -> str:
    """The agent runtime's bearer token: AGENT_RUNTIME_TOKEN, else generated once."""
    return _secret(root, None, "AGENT_RUNTIME_TOKEN", "agent-runtime-token")


def _secret(root: Path, given: str | None, variable: str, filename: str) -> str:
    value = given or os.environ.get(variable, "")
    if not value:
        path = pilot_dir(root) / filename
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(32))
        value = path.read_text(encoding="utf-8").strip()
    register_secret(value)
    return value


# --- health -------------------------------------------------------------------------------


def health(
    root: Path, expect_version: str | None = None, timeout: float = HEALTH_TIMEOUT
) -> Health:
    """Ask the pilot's /api/health (through the web's proxy) and /health until both pass."""
    settings = _require_settings(root)
    url = f"http://127.0.0.1:{settings.port}"
    deadline = time.monotonic() + timeout
    while True:
        verdict = judge(url, [ask(url, path) for path in HEALTH_PATHS], expect_version)
        if verdict.ok or time.monotonic() >= deadline:
            return verdict
        time.sleep(1.0)


def probe(root: Path) -> tuple[str, bool] | None:
    """(URL, answers /health) of a deployed pilot; None when none is up."""
    settings = _settings(root)
    if settings is None or not settings.up:
        return None
    url = f"http://127.0.0.1:{settings.port}"
    return url, ask(url, "/health").status == 200


# --- deploy and rollback --------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _variables(
    root: Path,
    settings: Settings,
    version: str,
    registry: str,
    token: str,
    digests: Mapping[str, str] | None = None,
    before: Deployment | None = None,
) -> tuple[dict[str, str], str]:
    """The compose variables of ``version`` and the version its services answer.

    Each image runs by ``digests`` (compose variables), else by the digest ``before`` (an
    earlier deployment of it) ran, else by the one its release recorded, else by its tag.
    """
    if before is not None and before.images:
        pins, answers = dict(before.images), before.answers
    else:
        pins, answers = (
            pilot_pins.recorded(root, version, registry),
            pilot_pins.app_version(root, version),
        )
    env = compose_env(
        registry, answers, token, settings.port, runtime_token=_runtime_token(root), digests=pins
    )
    env.update({k: v for k, v in (digests or {}).items() if v})
    pilot_pins.require_every_image(version, registry, _running(env))
    return env, answers


def _running(env: Mapping[str, str]) -> dict[str, str]:
    """Image -> the digest the compose variables ``env`` pin it to (pinned ones only)."""
    found = {i: env.get(pilot_pins.digest_variable(i), "") for i in pilot_pins.PILOT_IMAGES}
    return {image: value.removeprefix("@") for image, value in found.items() if value}


def _rollout(
    root: Path,
    settings: Settings,
    version: str,
    registry: str,
    token: str,
    action: Action,
    timeout: float,
    digests: Mapping[str, str] | None = None,
    before: Deployment | None = None,
) -> Deployment:
    """``compose up`` of ``version`` (its images by ``digests``, or as ``before`` ran them),
    health-checked, recorded."""
    env, answers = _variables(root, settings, version, registry, token, digests, before)
    app_version = answers if answers != version else ""
    ran = Deployment(version, _now(), "dry-run", action, registry, "", app_version, _running(env))
    argv = compose_argv(compose_command(), settings, root, "up", "-d", "--no-build")
    _write(_settings_path(root), asdict(replace(settings, up=True)))
    try:
        result = _compose(argv, root, env, 600)
    except ToolError as exc:
        last = exc.stderr_tail.strip().splitlines()[-2:] or ["no output"]
        entry = replace(ran, status="failed", detail="compose up failed: " + " ".join(last))
    else:
        if result.dry_run:
            return ran
        verdict = health(root, answers, timeout)
        status: Status = "healthy" if verdict.ok else "failed"
        entry = replace(ran, deployed_at=_now(), status=status, detail=verdict.detail)
    append(root, entry)
    return entry


def deploy(
    root: Path,
    version: str,
    registry_host: str,
    token: str | None = None,
    *,
    project: str | None = None,
    port: int | None = None,
    timeout: float = HEALTH_TIMEOUT,
    trust: Trust | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> Deployment:
    """Run ``version`` of the control panel on the pilot; roll back by itself if unhealthy.

    ``version`` is a version or a release id (every image by its recorded digest). With
    ``trust`` every image runs by the digest verified against the release key first.
    """
    settings = _configure(root, project, port)
    secret = _token(root, token)
    registry = registry_path(registry_host)
    compose = root / settings.compose_file
    env, _ = _variables(root, settings, version, registry, secret)
    digests = pilot_images.check(root, compose, version, registry, trust, say) if trust else {}
    env.update(digests)
    pull = compose_argv(compose_command(), settings, root, "pull", "--quiet")
    try:
        _compose(pull, root, env, 600)
    except ToolError as exc:
        raise PublishError(
            f"The pilot's images {version} could not be pulled from {registry} (the running "
            f"deployment was left as it was): {exc.stderr_tail}\nPublish them first "
            "(`invoke release`), or pass the registry that holds them."
        ) from None
    entry = _rollout(root, settings, version, registry, secret, "deploy", timeout, digests)
    if entry.status != "failed":
        return entry
    back = previous_healthy(history(root), version)
    if back is None:
        raise PublishError(
            f"Deploying {version} to the pilot failed its health check: {entry.detail}. "
            f"No earlier version was ever healthy there, so nothing was rolled back; fix the "
            f"release and deploy again (history: {history_path(root)})."
        )
    restored = _rollout(
        root, settings, back.version, back.registry, secret, "auto-rollback", timeout, before=back
    )
    if restored.status == "healthy":
        raise PublishError(
            f"Deploying {version} to the pilot failed its health check: {entry.detail}. "
            f"Rolled back to {back.version}, which is healthy again."
        )
    raise PublishError(
        f"Deploying {version} to the pilot failed its health check: {entry.detail}. Rolling "
        f"back to {back.version} failed too: {restored.detail}. The pilot is down; inspect it "
        f"with `docker-compose -p {settings.project} ps` and `logs`."
    )


def rollback(root: Path, to: str | None = None, timeout: float = HEALTH_TIMEOUT) -> Deployment:
    """Go back to the previous healthy version (or ``to``, which must once have been healthy)."""
    settings = _require_settings(root)
    entries = history(root)
    if not entries:
        raise PublishError(
            f"nothing to roll back to: nothing was ever deployed to the pilot "
            f"({history_path(root)} is empty)."
        )
    current = entries[-1]
    target = rollback_target(entries, to)
    token = _token(root, None)
    entry = _rollout(
        root, settings, target.version, target.registry, token, "rollback", timeout, before=target
    )
    if entry.status == "failed":
        raise PublishError(
            f"Rolling the pilot back from {current.version} to {target.version} failed its "
            f"health check: {entry.detail}."
        )
    return entry


def teardown(root: Path, purge: bool = False) -> None:
    """``compose down`` of the pilot project (its data volume too with ``purge``)."""
    settings = _settings(root)
    if settings is None:
        return
    args = ["down", "--remove-orphans", *(["--volumes"] if purge else [])]
    env = compose_env(NAMESPACE, "0.0.0", "", settings.port)
    _compose(compose_argv(compose_command(), settings, root, *args), root, env, 300)
    _write(_settings_path(root), asdict(replace(settings, up=False)))
