"""The agent-runtime image as the toolkit builds it: its token, and hostile snippets.

Each snippet runs through the running container (non-root, Docker's default seccomp
profile, no extra privileges) and must fail inside the snippet, while /health keeps
answering and the next task still runs.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.docker.conftest import Built

pytestmark = pytest.mark.integration

HOSTILE = {
    "signal-the-server": ("import os; os.kill(os.getppid(), 9)", "PermissionError"),
    "terminate-pid-1": ("import os, signal; os.kill(1, signal.SIGTERM)", "PermissionError"),
    "kill-everyone": ("import os; os.kill(-1, 9)", "PermissionError"),
    "socket-to-localhost": (
        "import socket; socket.create_connection(('127.0.0.1', 8080), timeout=2)",
        "PermissionError",
    ),
    "read-server-environment": (
        "print(open('/proc/1/environ').read())",
        "PermissionError",
    ),
    "read-outside-the-workdir": ("print(open('/etc/shadow').read())", "PermissionError"),
    "write-outside-the-workdir": ("open('/tmp/planted', 'w').write('x')", "PermissionError"),
    "fork-1000": (
        "import os, time\nfor _ in range(1000):\n    if os.fork() == 0:\n        time.sleep(5)",
        "BlockingIOError",
    ),
}

# Plain `docker run`, and the way the chart and the pilot run images (read-only root file
# system with a /tmp tmpfs, every capability dropped, no-new-privileges).
MODES: dict[str, dict[str, Any]] = {
    "plain": {},
    "hardened": {
        "read_only": True,
        "tmpfs": {"/tmp": "rw,size=64m"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
    },
}


class Runtime:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def call(
        self, method: str, path: str, payload: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())

    def run_task(self, steps: list[str]) -> dict[str, Any]:
        return self.wait(self.submit(steps))

    def submit(self, steps: list[str]) -> str:
        status, created = self.call("POST", "/tasks", {"steps": steps}, self.token)
        assert status == 202, created
        return str(created["id"])

    def wait(self, task_id: str) -> dict[str, Any]:
        created = {"id": task_id}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, task = self.call("GET", f"/tasks/{created['id']}", token=self.token)
            assert status == 200, task
            if task["status"] not in ("queued", "running"):
                return dict(task)
            time.sleep(0.1)
        raise AssertionError(f"task {created['id']} did not finish")


@pytest.fixture(scope="module", params=sorted(MODES))
def runtime(request: pytest.FixtureRequest, built: Built, client: Any) -> Iterator[Runtime]:
    token = secrets.token_urlsafe(24)
    container = client.containers.run(
        f"ironcage/agent-runtime:{built.version}",
        detach=True,
        environment={"AGENT_RUNTIME_TOKEN": token},
        ports={"8080/tcp": ("127.0.0.1", None)},
        name=f"test-agent-runtime-{request.param}-{secrets.token_hex(4)}",
        **MODES[request.param],
    )
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        runtime = Runtime(f"http://127.0.0.1:{port}", token)
        deadline = time.monotonic() + 30
        while True:
            try:
                if runtime.call("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(container.logs().decode(errors="replace")[-2000:])
            time.sleep(0.2)
        yield runtime
    finally:
        container.remove(force=True)


def test_confinement_layers_are_all_on(runtime: Runtime) -> None:
    status, health = runtime.call("GET", "/health")
    assert status == 200
    assert health["confinement"]["seccomp"] is True
    assert health["confinement"]["filesystem"] is True
    assert health["confinement"]["fork_limit"] is True


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_tasks_without_the_token_get_401(runtime: Runtime, token: str | None) -> None:
    status, body = runtime.call("POST", "/tasks", {"steps": ["print(1)"]}, token)
    assert status == 401
    assert body["error"] == "missing or invalid bearer token"
    assert runtime.call("GET", "/tasks", token=token)[0] == 401


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_snippet_fails_inside_the_image(runtime: Runtime, name: str) -> None:
    code, error = HOSTILE[name]
    task = runtime.run_task([code])
    assert task["status"] == "failed", task
    assert error in task["results"][0]["stderr"]
    status, health = runtime.call("GET", "/health")
    assert (status, health["status"]) == (200, "ok")
    after = runtime.run_task(["print('next task runs')"])
    assert after["status"] == "succeeded"
    assert after["results"][0]["stdout"] == "next task runs\n"


KILL_EVERY_PID = """
import os
killed = []
for pid in range(1, 32768):
    if pid == os.getpid():
        continue
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    except PermissionError:
        pass
    else:
        killed.append(pid)
print(killed)
"""


def test_a_snippet_cannot_kill_another_running_snippet(runtime: Runtime) -> None:
    victim = runtime.submit(["import time; time.sleep(3); print('survived')"])
    time.sleep(0.5)  # the victim runs on one worker, the attacker on the other
    attacker = runtime.run_task([KILL_EVERY_PID])
    assert attacker["results"][0]["stdout"] == "[]\n", attacker
    survived = runtime.wait(victim)
    assert survived["status"] == "succeeded"
    assert survived["results"][0]["stdout"] == "survived\n"
