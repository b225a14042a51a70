"""The engine's one HTTP client: a timeout on every request, retries where they are safe.

Built on the standard library (``urllib.request``), so importing it costs nothing at start.

- Every request has a timeout (``DEFAULT_TIMEOUT`` seconds unless told otherwise).
- GET and HEAD are retried with exponential backoff when nothing answers (connection
  refused or reset, a timeout) and on 429 and 5xx answers, honouring ``Retry-After``. Any
  other method (a POST upload) is sent once: a second upload is never sent blindly.
- Credentials (``Auth.basic``, ``Auth.bearer``) are registered as secrets, sent only to
  the origin they were meant for (a redirect to another host drops them), and never appear
  in an error: errors are ``HttpError`` naming the method, the URL without its user-info,
  and the status or the reason nothing answered.
- Any HTTP status comes back as a ``Response``; ``Response.raise_for_status`` turns the
  error statuses into ``HttpError`` for callers that accept only success.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import IO, Any, Literal

from releasekit.core.errors import HttpError
from releasekit.core.run import redact, register_secret

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "Auth",
    "Response",
    "get",
    "public_url",
    "request",
    "same_origin",
]

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
_BACKOFF = 0.5
_MAX_WAIT = 30.0
_CHUNK = 1 << 20
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD"})
_AUTHORIZATION = "Authorization"


@dataclass(frozen=True)
class Auth:
    """Credentials for the ``Authorization`` header: HTTP basic or a bearer token."""

    scheme: Literal["Basic", "Bearer"]
    credentials: str = field(repr=False)

    @classmethod
    def basic(cls, username: str, password: str) -> Auth:
        """HTTP basic auth; the password (and the encoded pair) are redacted from output."""
        register_secret(password)
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        register_secret(token)
        return cls("Basic", token)

    @classmethod
    def bearer(cls, token: str) -> Auth:
        """A bearer token; redacted from output."""
        register_secret(token)
        return cls("Bearer", token)

    def header(self) -> str:
        """The value of the ``Authorization`` header."""
        return f"{self.scheme} {self.credentials}"


@dataclass(frozen=True)
class Response:
    """One HTTP answer: final URL, status, headers and body (empty when streamed to a sink)."""

    method: str
    url: str
    status: int
    reason: str
    headers: Message
    body: bytes = field(repr=False)

    @property
    def ok(self) -> bool:
        """True for a status below 400."""
        return self.status < 400

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; HttpError naming the URL when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise HttpError(
                f"{self.method} {public_url(self.url)} answered {self.status} with a body that "
                f"is not JSON: {redact(self.text()[:200])!r}.",
                self.url,
                self.status,
            ) from None

    def raise_for_status(self, hint: str = "") -> Response:
        """This response when its status is below 400, else HttpError (with ``hint``)."""
        if self.ok:
            return self
        detail = redact(" ".join(self.text().split())[:200])
        answered = f"answered {self.status} {self.reason}{f': {detail}' if detail else ''}"
        message = f"{self.method} {public_url(self.url)} {answered}. {hint}".strip()
        raise HttpError(message, self.url, self.status, answered)


def public_url(url: str) -> str:
    """``url`` without user-info (``https://user:pass@host`` -> ``https://host``)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").lower(), port


def same_origin(url: str, other: str) -> bool:
    """True when ``url`` and ``other`` share scheme, host and port (where credentials may go)."""
    return _origin(url) == _origin(other)


class _SameOriginRedirect(urllib.request.HTTPRedirectHandler):
    """Follows redirects; the credentials follow only to the same scheme, host and port."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        auth = req.unredirected_hdrs.get(_AUTHORIZATION)
        if new is not None and auth and same_origin(newurl, req.full_url):
            new.add_unredirected_header(_AUTHORIZATION, auth)
        return new


def _wait(attempt: int, backoff: float, headers: Message | None) -> float:
    """Seconds before the next attempt: ``Retry-After`` when given, else exponential."""
    after = headers.get("Retry-After") if headers is not None else None
    if after is not None and str(after).strip().isdigit():
        return min(float(after), _MAX_WAIT)
    return float(min(backoff * (2**attempt), _MAX_WAIT))


def _reason(exc: BaseException, timeout: float) -> str:
    inner = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(inner, TimeoutError | ssl.SSLError) and "timed out" in str(inner):
        return f"no answer within {timeout:g} s"
    return redact(str(inner) or type(inner).__name__)


class _StreamBroken(OSError):
    """The connection broke while a body was streamed to a sink: not retried."""


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | IO[bytes] | None = None,
    json_body: object = None,
    params: Mapping[str, str] | None = None,
    auth: Auth | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = _BACKOFF,
    context: ssl.SSLContext | None = None,
    sink: Callable[[bytes], object] | None = None,
) -> Response:
    """Send one request (retried as the module doc says) and return the answer, any status.

    ``json_body`` is sent as JSON; ``params`` are added to the query; ``sink`` receives the
    body of a successful answer in chunks instead of ``Response.body`` (a download that
    breaks midway is not retried). HttpError (status None) when nothing answers.
    """
    method = method.upper()
    if params:
        url += ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode(params)
    sent_headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        sent_headers.setdefault("Content-Type", "application/json")
    attempts = 1 + (max(retries, 0) if method in _IDEMPOTENT else 0)
    opener = urllib.request.build_opener(
        _SameOriginRedirect(), urllib.request.HTTPSHandler(context=context)
    )
    for attempt in range(attempts):
        last = attempt == attempts - 1
        req = urllib.request.Request(url, data=data, headers=sent_headers, method=method)
        if auth is not None:
            req.add_unredirected_header(_AUTHORIZATION, auth.header())
        try:
            answer = _send(opener, req, method, timeout, sink)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if last or isinstance(exc, _StreamBroken):
                reason = _reason(exc, timeout)
                if attempts > 1:
                    reason += f", tried {attempts} times"
                raise HttpError(
                    f"{method} {public_url(url)} got no answer: {reason}.", url, None, reason
                ) from None
            time.sleep(_wait(attempt, backoff, None))
            continue
        if answer.status in _RETRY_STATUS and not last:
            time.sleep(_wait(attempt, backoff, answer.headers))
            continue
        return answer
    raise AssertionError("unreachable: the last attempt returns or raises")


def _send(
    opener: urllib.request.OpenerDirector,
    req: urllib.request.Request,
    method: str,
    timeout: float,
    sink: Callable[[bytes], object] | None,
) -> Response:
    try:
        answer = opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as exc:  # an error status is an answer, not a failure
        with exc:
            body = exc.read()
        return Response(method, exc.geturl(), exc.code, str(exc.reason), exc.headers, body)
    with answer:
        if sink is None:
            body = answer.read()
        else:
            body = b""
            try:
                for chunk in iter(lambda: answer.read(_CHUNK), b""):
                    sink(chunk)
            except (OSError, http.client.HTTPException) as exc:
                raise _StreamBroken(str(exc)) from None
        return Response(
            method, answer.geturl(), int(answer.status), str(answer.reason), answer.headers, body
        )


def get(url: str, **options: Any) -> Response:
    """``request("GET", url, **options)``."""
    return request("GET", url, **options)
