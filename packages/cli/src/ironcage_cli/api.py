"""A small urllib client for the control panel API (``/api/agents``)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ironcage_cli import __version__

URL_VARIABLE = "IRONCAGE_API_URL"
TOKEN_VARIABLE = "IRONCAGE_TOKEN"
DEFAULT_TIMEOUT = 30.0
_MAX_ERROR_CHARS = 300


class ConfigError(Exception):
    """The API is not configured (a variable is missing or invalid); exit status 2."""


class ApiError(Exception):
    """The API call failed (HTTP error, unreachable, bad response); exit status 1."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    description: str
    created_at: str

    @classmethod
    def from_json(cls, data: object) -> Agent:
        if not isinstance(data, dict):
            raise ApiError("unexpected response from the API: an agent is not a JSON object")
        try:
            agent_id = data["id"]
            name = data["name"]
        except KeyError as exc:
            raise ApiError(f"unexpected response from the API: agent without {exc}") from None
        if isinstance(agent_id, bool) or not isinstance(agent_id, int) or not isinstance(name, str):
            raise ApiError("unexpected response from the API: bad agent id or name")
        description = data.get("description") or ""
        created_at = data.get("created_at") or ""
        return cls(agent_id, name, str(description), str(created_at))

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class ApiConfig:
    url: str
    token: str

    def __repr__(self) -> str:  # never show the token, even in a debugger or traceback
        return f"ApiConfig(url={self.url!r}, token='***')"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiConfig:
        env = os.environ if environ is None else environ
        url = env.get(URL_VARIABLE, "").strip()
        if not url:
            raise ConfigError(
                f"{URL_VARIABLE} is not set (the control panel URL, e.g. http://127.0.0.1:8000)"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{URL_VARIABLE} must be an http:// or https:// URL")
        token = env.get(TOKEN_VARIABLE, "").strip()
        if not token:
            raise ConfigError(f"{TOKEN_VARIABLE} is not set (an API token for the control panel)")
        return cls(url.rstrip("/"), token)


class ApiClient:
    """Calls the control panel with ``Authorization: Bearer <token>``."""

    def __init__(self, config: ApiConfig, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._config = config
        self._timeout = timeout

    @property
    def url(self) -> str:
        return self._config.url

    def list_agents(self) -> list[Agent]:
        """Every agent, page after page."""
        agents: list[Agent] = []
        path = "/api/agents"
        for _ in range(10_000):
            body = self._request("GET", path)
            page = body.get("agents") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise ApiError("unexpected response from the API: no agents list")
            agents += [Agent.from_json(item) for item in page]
            following = body.get("next")
            if not isinstance(following, int) or isinstance(following, bool):
                return agents
            path = f"/api/agents?after={following}"
        raise ApiError("the API kept returning more pages of agents")

    def create_agent(self, name: str, description: str = "") -> Agent:
        body = self._request("POST", "/api/agents", {"name": name, "description": description})
        if isinstance(body, dict) and isinstance(body.get("agent"), dict):
            body = body["agent"]
        return Agent.from_json(body)

    def _request(self, method: str, path: str, payload: object = None) -> Any:
        url = self._config.url + path
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", f"ironcage-cli/{__version__}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        # Unredirected: urllib would otherwise copy the header to a redirect's target host.
        request.add_unredirected_header("Authorization", f"Bearer {self._config.token}")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            message = f"{method} {path} failed: HTTP {exc.code} {exc.reason}"
            text = self._redact(f"{message}: {detail}" if detail else message)
            raise ApiError(text, exc.code) from None
        except urllib.error.URLError as exc:
            raise ApiError(
                self._redact(f"cannot reach the API at {self.url}: {exc.reason}")
            ) from None
        except (TimeoutError, OSError) as exc:
            raise ApiError(self._redact(f"cannot reach the API at {self.url}: {exc}")) from None
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiError(f"{method} {path}: the API did not return JSON") from None

    def _redact(self, text: str) -> str:
        return text.replace(self._config.token, "***")


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read()
    except OSError:
        return ""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            if body.get(key):
                text = str(body[key])
                break
    text = " ".join(text.split())
    return text[:_MAX_ERROR_CHARS]
