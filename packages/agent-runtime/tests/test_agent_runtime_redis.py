"""Tasks shared through a real Redis: across runtime processes and across their restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from ironcage_agent_runtime import Redis, RedisBackend, RedisError, Task, TaskSpec
from ironcage_agent_runtime.resp import RedisUrl

TOKEN = "shared-token-0123456789"


class Runtime:
    """``python -m ironcage_agent_runtime`` on a free port, stopped with SIGTERM."""

    def __init__(self, redis_url: str, workers: int) -> None:
        env = {**os.environ, "AGENT_RUNTIME_TOKEN": TOKEN, "REDIS_URL": redis_url}
        argv = [sys.executable, "-m", "ironcage_agent_runtime", "--host", "127.0.0.1"]
        argv += ["--port", "0", "--workers", str(workers), "--shutdown-grace", "5"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        listening = json.loads(self.proc.stdout.readline())
        assert listening["msg"] == "listening", listening
        assert listening["store"] == redis_url
        self.url = f"http://127.0.0.1:{listening['port']}"

    def call(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {TOKEN}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())

    def wait_done(self, task_id: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, task = self.call("GET", f"/tasks/{task_id}")
            assert status == 200, task
            if task["status"] not in ("queued", "running"):
                return dict(task)
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} did not finish")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
        assert self.proc.returncode == 0


@pytest.fixture()
def runtimes(redis_server: Any) -> Iterator[list[Runtime]]:
    started: list[Runtime] = []
    yield started
    for runtime in started:
        runtime.stop()


def test_a_task_created_on_one_runtime_runs_and_reads_on_another(
    redis_server: Any, runtimes: list[Runtime]
) -> None:
    front = Runtime(redis_server.url, workers=0)  # accepts tasks, runs none
    runtimes.append(front)
    status, created = front.call("POST", "/tasks", {"steps": ["print('shared')"]})
    assert status == 202
    time.sleep(0.3)
    assert front.call("GET", f"/tasks/{created['id']}")[1]["status"] == "queued"
    worker = Runtime(redis_server.url, workers=1)
    runtimes.append(worker)
    task = front.wait_done(created["id"])  # run by the worker, read through the front
    assert task["status"] == "succeeded"
    assert task["results"][0]["stdout"] == "shared\n"
    assert worker.call("GET", f"/tasks/{created['id']}")[1] == task
    listed = worker.call("GET", "/tasks?limit=10")[1]
    assert [t["id"] for t in listed["tasks"]] == [created["id"]]

    # Both runtimes restart: the task is still there, on each of them.
    for runtime in runtimes:
        runtime.stop()
    runtimes.clear()
    again = [Runtime(redis_server.url, workers=1) for _ in range(2)]
    runtimes.extend(again)
    for runtime in again:
        status, reread = runtime.call("GET", f"/tasks/{created['id']}")
        assert status == 200
        assert reread["status"] == "succeeded"
        assert reread["results"][0]["stdout"] == "shared\n"


def test_queued_tasks_survive_a_restart_and_run_after_it(
    redis_server: Any, runtimes: list[Runtime]
) -> None:
    front = Runtime(redis_server.url, workers=0)
    ids = [front.call("POST", "/tasks", {"steps": [f"print({n})"]})[1]["id"] for n in range(3)]
    front.stop()
    worker = Runtime(redis_server.url, workers=2)
    runtimes.append(worker)
    outputs = [worker.wait_done(task_id)["results"][0]["stdout"] for task_id in ids]
    assert outputs == ["0\n", "1\n", "2\n"]


def test_tasks_survive_a_restart_of_redis_itself(redis_server: Any) -> None:
    backend = RedisBackend(redis_server.url)
    task = Task(spec=TaskSpec(("print(1)",)))
    backend.create(task)
    backend.close()
    redis_server.stop()
    redis_server.start()
    backend = RedisBackend(redis_server.url)
    try:
        found = backend.get(task.id)
        assert found is not None and found.status == "queued"
        assert backend.queue_depth() == 1
    finally:
        backend.close()


def test_a_task_left_by_a_dead_runtime_runs_again(
    redis_server: Any, runtimes: list[Runtime]
) -> None:
    backend = RedisBackend(redis_server.url, prefix="ironcage:agent-runtime:")
    task = Task(spec=TaskSpec(("print('recovered')",)))
    backend.create(task)
    # A runtime that took the task and died: it sits in that process's processing list,
    # and the process's alive key is gone.
    dead = backend._key("processing", "gone-host:1:deadbeef", "w0")
    backend.redis("LMOVE", backend._key("queue"), dead, "RIGHT", "LEFT")
    backend.close()
    worker = Runtime(redis_server.url, workers=1)
    runtimes.append(worker)
    finished = worker.wait_done(task.id)
    assert finished["status"] == "succeeded"
    assert finished["results"][0]["stdout"] == "recovered\n"
    assert Redis(redis_server.url)("LLEN", dead) == 0


def test_the_queue_limit_holds_across_replicas(redis_server: Any) -> None:
    backend = RedisBackend(redis_server.url, max_queue=2)
    try:
        for _ in range(2):
            backend.create(Task(spec=TaskSpec(("pass",))))
        with pytest.raises(Exception, match="queue is full"):
            backend.create(Task(spec=TaskSpec(("pass",))))
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6380/2", RedisUrl("127.0.0.1", 6380, 2)),
        ("redis://:pa%40ss@redis.internal", RedisUrl("redis.internal", password="pa@ss")),
        ("rediss://user:pw@r:1/0", RedisUrl("r", 1, 0, "user", "pw", tls=True)),
    ],
)
def test_redis_urls(url: str, expected: RedisUrl) -> None:
    assert RedisUrl.parse(url) == expected


@pytest.mark.parametrize("url", ["http://x", "redis://", "redis://h:notaport", "redis://h/db"])
def test_bad_redis_urls(url: str) -> None:
    with pytest.raises(ValueError, match="REDIS_URL"):
        RedisUrl.parse(url)


def test_unreachable_redis_names_the_url_but_not_the_password() -> None:
    client = Redis("redis://:hunter2@127.0.0.1:1/0")
    with pytest.raises(RedisError) as caught:
        client("PING")
    assert "127.0.0.1:1" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_redis_password_is_sent(redis_server: Any) -> None:
    admin = Redis(redis_server.url)
    admin("CONFIG", "SET", "requirepass", "s3cret")
    try:
        with pytest.raises(RedisError, match=r"NOAUTH|Authentication"):
            Redis(redis_server.url)("GET", "x")
        with_password = redis_server.url.replace("redis://", "redis://:s3cret@")
        assert Redis(with_password)("PING") == "PONG"
    finally:
        Redis(redis_server.url.replace("redis://", "redis://:s3cret@"))(
            "CONFIG", "SET", "requirepass", ""
        )
