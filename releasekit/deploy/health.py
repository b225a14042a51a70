"""Health verdicts over HTTP: ask a service's health endpoints, judge the answers.

A service is healthy when every endpoint answers 200 with JSON, and reports the expected
version when one is expected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from releasekit.core import http
from releasekit.core.errors import HttpError

__all__ = ["HEALTH_PATHS", "Check", "Health", "ask", "judge"]

HEALTH_PATHS = ("/api/health", "/health")


@dataclass(frozen=True)
class Check:
    """One health request: its path, HTTP status (None: no answer) and reported version."""

    path: str
    status: int | None
    version: str | None = None
    error: str = ""


@dataclass(frozen=True)
class Health:
    """The verdict of a health check and the requests behind it."""

    ok: bool
    url: str
    expected: str | None
    version: str | None
    checks: tuple[Check, ...]
    detail: str

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "checks": [asdict(c) for c in self.checks]}


def ask(base: str, path: str) -> Check:
    """GET ``base + path``: its status and the ``version`` of its JSON answer."""
    try:
        answer = http.get(base + path, timeout=3, retries=0)
    except HttpError as exc:
        return Check(path, None, error=exc.reason)
    status, body = answer.status, answer.body
    try:
        data = json.loads(body)
    except ValueError:
        return Check(path, status, error="answer is not JSON")
    found = data.get("version") if isinstance(data, dict) else None
    return Check(path, status, str(found) if found is not None else None)


def judge(url: str, checks: Sequence[Check], expected: str | None) -> Health:
    """Healthy when every check answered 200 and reports ``expected`` (when given)."""
    problems = []
    for check in checks:
        if check.status is None:
            problems.append(f"{check.path} did not answer ({check.error})")
        elif check.status != 200:
            problems.append(f"{check.path} answered HTTP {check.status}")
        elif check.error:
            problems.append(f"{check.path}: {check.error}")
        elif expected is not None and check.version is not None and check.version != expected:
            problems.append(f"{check.path} reports version {check.version}, expected {expected}")
    api = next((c for c in checks if c.path == HEALTH_PATHS[0]), None)
    version = api.version if api else None
    if expected is not None and api is not None and api.status == 200 and version is None:
        problems.append(f"{api.path} reports no version, expected {expected}")
    detail = "; ".join(problems) if problems else f"healthy at {url}, version {version}"
    return Health(not problems, url, expected, version, tuple(checks), detail)
