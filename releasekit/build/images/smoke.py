"""Smoke-test a built image: run it, wait for /health and its HEALTHCHECK, check its user.

Each service image starts on a random port of 127.0.0.1. The check passes when
``GET /health`` answers 200 with JSON, the engine reports the container ``healthy``, the
image's configured user is not root and ``id -u`` inside the container is not 0. The engine
runs the image's own HEALTHCHECK command, every second instead of at the image's interval
(which suits a running service, not a test waiting for its first probe). The
control-panel-web image is started with the API on a user-defined network (the API aliased
``control-panel-api``, the upstream the web image proxies to by default): its ``/`` must
serve the front end and ``/api/health`` must come back from the API through the proxy.
Every container and network is removed afterwards, pass or fail.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from releasekit.build.images.spec import LOCAL_PREFIX, connect
from releasekit.core import http
from releasekit.core.errors import HttpError, ReleaseError
from releasekit.core.run import register_secret

if TYPE_CHECKING:
    from docker.client import DockerClient
    from docker.models.containers import Container
    from docker.models.images import Image

__all__ = ["SmokeError", "SmokeResult", "smoke_image"]

_PORTS = {"agent-runtime": 8080, "control-panel-api": 8000}
_API_ALIAS = "control-panel-api"
_TIMEOUT = 60.0
_QEMU_TIMEOUT = 300.0  # an emulated platform starts Python several times slower
_PROBE_EVERY = 1_000_000_000  # ns: the smoke test's HEALTHCHECK interval


class SmokeError(ReleaseError):
    """A built image does not start, answer, become healthy or drop root."""

    exit_code = 11


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke test of one image saw."""

    image: str
    ref: str
    user: str
    uid: int
    health: dict[str, Any]
    checks: tuple[str, ...] = field(default=())


def _get(url: str, timeout: float = 3.0) -> tuple[int, str, str]:
    """(status, content type, body) of GET ``url``; status 0 when nothing answers."""
    try:
        answer = http.get(url, timeout=timeout, retries=0)
    except HttpError:
        return 0, "", ""
    return answer.status, str(answer.headers.get("Content-Type", "")), answer.text()


def _logs(container: Container) -> str:
    import docker.errors

    try:
        text: str = container.logs(tail=20).decode("utf-8", "replace")
    except docker.errors.APIError:
        return ""
    return text.strip()


def _fail(name: str, what: str, container: Container | None = None) -> SmokeError:
    tail = f"\nLast lines of its log:\n{_logs(container)}" if container is not None else ""
    return SmokeError(
        f"Smoke test of {name}: {what}. Run the image by hand (`docker run --rm -p "
        f"127.0.0.1::PORT {name}`) to see why, fix it and build again.{tail}"
    )


def _host_port(container: Container, port: int) -> int:
    container.reload()
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") in ("127.0.0.1", "0.0.0.0", ""):  # noqa: S104
            return int(binding["HostPort"])
    tags = container.image.tags if container.image is not None else []
    raise _fail(tags[0] if tags else "?", f"port {port} unbound")


def _wait_healthy(
    ref: str, container: Container, url: str, timeout: float = _TIMEOUT
) -> dict[str, Any]:
    """Wait for GET ``url`` 200 and the HEALTHCHECK status healthy; the /health JSON.

    An ``unhealthy`` state fails at once while ``url`` does not answer. Once it answers, the
    probe inside the container may only have been slow (an emulated platform, a loaded
    machine): one probe that passes makes the container healthy again, so the wait goes on
    until the deadline."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] | None = None
    state = "starting"
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            raise _fail(ref, f"the container stopped ({container.status})", container)
        if body is None:
            status, _, text = _get(url)
            if status == 200:
                try:
                    body = dict(json.loads(text))
                except (ValueError, TypeError):
                    raise _fail(ref, f"{url} answered 200 but not JSON: {text[:200]!r}") from None
        health = container.attrs["State"].get("Health") or {}
        state = str(health.get("Status", "none"))
        if state == "unhealthy" and body is None:
            raise _fail(ref, "its HEALTHCHECK reports unhealthy", container)
        if body is not None and state == "healthy":
            return body
        time.sleep(0.5)
    what = (
        "GET /health never answered 200"
        if body is None
        else f"GET /health answers, but its HEALTHCHECK stayed {state}"
    )
    raise _fail(ref, f"{what} within {timeout:.0f} s", container)


def _check_user(ref: str, image: Image, container: Container) -> tuple[str, int]:
    user = str(image.attrs["Config"].get("User") or "")
    if user.split(":")[0] in ("", "0", "root"):
        raise _fail(ref, f"the image runs as root (Config.User is {user!r}); add a USER line")
    code, out = container.exec_run(["id", "-u"])
    printed = out.decode().strip() if isinstance(out, bytes) else ""
    uid = int(printed) if code == 0 and printed.isdigit() else -1
    if uid <= 0:
        raise _fail(ref, f"`id -u` in the container printed {printed!r}", container)
    return user, uid


@contextmanager
def _running(client: DockerClient, ref: str, **kwargs: Any) -> Iterator[Any]:
    """Run ``ref`` detached; the container is stopped and removed on exit."""
    import docker.errors

    try:
        check = probed_often(client.images.get(ref))
        if check:
            kwargs["healthcheck"] = check
        container = client.containers.run(ref, detach=True, **kwargs)
    except docker.errors.ImageNotFound:
        raise SmokeError(
            f"The image {ref} does not exist locally. Build it first: `invoke build.images`."
        ) from None
    except docker.errors.APIError as exc:
        raise _fail(ref, f"the engine refused to start it: {exc.explanation or exc}") from None
    try:
        yield container
    finally:
        with suppress(docker.errors.APIError):
            container.remove(force=True, v=True)


def probed_often(image: Image) -> dict[str, Any]:
    """The image's HEALTHCHECK (its command, timeout, retries), probed every second.

    Empty when the image has none: the engine then reports no health at all."""
    check = dict(image.attrs["Config"].get("Healthcheck") or {})
    if not check.get("Test") or check["Test"] == ["NONE"]:
        return {}
    return {
        "test": list(check["Test"]),
        "interval": _PROBE_EVERY,
        "timeout": int(check.get("Timeout") or 3_000_000_000),
        "retries": int(check.get("Retries") or 3),
        "start_period": int(check.get("StartPeriod") or 0),
    }


def _start(
    stack: ExitStack, client: DockerClient, ref: str, port: int, **kwargs: Any
) -> tuple[Any, str]:
    container = stack.enter_context(
        _running(client, ref, ports={f"{port}/tcp": ("127.0.0.1", None)}, **kwargs)
    )
    return container, f"http://127.0.0.1:{_host_port(container, port)}"


def smoke_image(
    name: str,
    version: str,
    *,
    client: DockerClient | None = None,
    prefix: str = LOCAL_PREFIX,
    platform: str | None = None,
    ids: Mapping[str, str] | None = None,
) -> SmokeResult:
    """Run the smoke test of image ``name`` (``<prefix>/<name>:<version>``); SmokeError else.

    ``version`` is the local tag (``<version>-arm64`` for another platform's image, which
    runs under QEMU with ``platform``). ``ids`` (image name -> Docker image id) runs those
    images by id rather than by tag: another checkout at the same version may move the tag.
    """
    import docker.errors

    client = client or connect()
    run_as = dict(ids or {})
    ref = f"{prefix}/{name}:{version}"
    target = run_as.get(name, ref)  # what runs: the recorded id when given, else the tag
    kwargs: dict[str, Any] = {"platform": platform} if platform else {}
    wait = _QEMU_TIMEOUT if platform else _TIMEOUT
    try:
        image = client.images.get(target)
    except docker.errors.ImageNotFound:
        raise SmokeError(
            f"The image {ref} does not exist locally. Build it first: `invoke build.images`."
        ) from None
    token = secrets.token_hex(16)
    register_secret(token)
    api_env = {"CONTROL_PANEL_TOKEN": token}
    suffix = secrets.token_hex(4)
    with ExitStack() as stack:
        checks: list[str] = []
        if name != "control-panel-web":
            env = {
                "control-panel-api": api_env,
                "agent-runtime": {"AGENT_RUNTIME_TOKEN": token},
            }.get(name, {})
            container, base = _start(
                stack,
                client,
                target,
                _PORTS.get(name, 8080),
                environment=env,
                name=f"smoke-{name}-{suffix}",
                **kwargs,
            )
            health = _wait_healthy(ref, container, f"{base}/health", wait)
            user, uid = _check_user(ref, image, container)
            checks += ["GET /health 200", "healthy", f"uid {uid}"]
            return SmokeResult(name, ref, user, uid, health, tuple(checks))
        network = client.networks.create(f"smoke-{suffix}", driver="bridge")
        stack.callback(network.remove)
        api_ref = f"{prefix}/control-panel-api:{version}"
        endpoint = client.api.create_endpoint_config(aliases=[_API_ALIAS])
        api, api_base = _start(
            stack,
            client,
            run_as.get("control-panel-api", api_ref),
            8000,
            environment=api_env,
            name=f"smoke-api-{suffix}",
            network=network.name,
            networking_config={network.name: endpoint},
            **kwargs,
        )
        web, base = _start(
            stack,
            client,
            target,
            8080,
            name=f"smoke-web-{suffix}",
            network=network.name,
            **kwargs,
        )
        _wait_healthy(api_ref, api, f"{api_base}/health", wait)
        health = _wait_healthy(ref, web, f"{base}/health", wait)
        user, uid = _check_user(ref, image, web)
        status, kind, page = _get(f"{base}/")
        if status != 200 or "text/html" not in kind or "<html" not in page.lower():
            raise _fail(ref, f"GET / answered {status} {kind!r}, not the front end's HTML", web)
        status, kind, text = _get(f"{base}/api/health")
        try:
            proxied = dict(json.loads(text)) if status == 200 else {}
        except (ValueError, TypeError):
            proxied = {}
        if proxied.get("status") != "ok":
            raise _fail(ref, f"GET /api/health through the proxy answered {status}: {text!r}", web)
        checks += ["GET /health 200", "healthy", f"uid {uid}", "GET / html", "GET /api/health"]
        return SmokeResult(name, ref, user, uid, health, tuple(checks))
    raise AssertionError("unreachable")  # pragma: no cover
