"""Read-only questions to an OCI registry over its HTTP API: what a tag or digest names.

Signing and verification must see what the registry serves, not what the local engine
remembers, so manifests are read straight from ``/v2/<repository>/manifests/<reference>``.
Anonymous first; on a 401 the challenge is answered with basic auth or a bearer token
fetched with the target's credentials (as docker, helm and cosign do).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from releasekit.core import http
from releasekit.core.errors import HttpError, PublishError

__all__ = [
    "CHART_LAYER",
    "MANIFEST_TYPES",
    "Access",
    "Manifest",
    "fetch_manifest",
    "put_manifest",
    "split_ref",
]

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_TIMEOUT = 30


@dataclass(frozen=True)
class Access:
    """How to reach a registry: plain HTTP or TLS, and optional credentials."""

    plain_http: bool = False
    username: str = ""
    password: str = field(default="", repr=False)

    def scheme(self) -> str:
        return "http" if self.plain_http else "https"


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry serves it: its digest, media type and parsed body."""

    digest: str
    media_type: str
    body: dict[str, Any]
    content: bytes = field(default=b"", repr=False)
    """The bytes the registry served, which hash to ``digest``."""

    def layer_digests(self, media_type: str) -> list[str]:
        """The digests of the layers of ``media_type`` (a chart's archive, for instance)."""
        return [
            str(layer.get("digest", ""))
            for layer in self.body.get("layers", [])
            if layer.get("mediaType") == media_type
        ]


def split_ref(ref: str) -> tuple[str, str]:
    """``[oci://]HOST[:PORT]/REPO[:TAG|@DIGEST]`` -> (host, repository[:tag|@digest])."""
    value = ref.removeprefix("oci://")
    host, _, rest = value.partition("/")
    if not host or not rest:
        raise PublishError(
            f"{ref!r} is not a registry reference HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]."
        )
    return host, rest


def _token(challenge: str, access: Access) -> http.Auth | None:
    """A bearer token for a ``Bearer realm=...,service=...,scope=...`` challenge."""
    params = dict(_CHALLENGE.findall(challenge))
    realm = params.pop("realm", "")
    if not realm:
        return None
    auth = http.Auth.basic(access.username, access.password) if access.username else None
    response = http.get(realm, params=params, auth=auth, timeout=_TIMEOUT)
    if response.status >= 400:
        return None
    data = response.json()
    token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
    return http.Auth.bearer(str(token)) if token else None


def _get(
    url: str, access: Access, headers: dict[str, str], method: str = "GET", data: bytes = b""
) -> http.Response:
    """Send ``method`` to ``url``, answering one auth challenge with ``access``'s credentials."""
    body = data if method != "GET" else None

    def send(auth: http.Auth | None = None) -> http.Response:
        return http.request(method, url, headers=headers, data=body, auth=auth, timeout=_TIMEOUT)

    try:
        response = send()
        if response.status != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        if challenge.lower().startswith("basic") and access.username:
            return send(http.Auth.basic(access.username, access.password))
        if challenge.lower().startswith("bearer"):
            token = _token(challenge, access)
            if token:
                return send(token)
        return response
    except HttpError as exc:
        raise PublishError(
            f"Cannot reach the registry at {http.public_url(url)}: {exc.reason}. Is it running, "
            "and is the target's `registry` (or `chart_registry`) right?"
        ) from None


def fetch_manifest(host: str, repository: str, reference: str, access: Access) -> Manifest | None:
    """The manifest ``reference`` (a tag or ``sha256:...``) names, None when there is none."""
    url = f"{access.scheme()}://{host}/v2/{repository}/manifests/{reference}"
    response = _get(url, access, {"Accept": ", ".join(MANIFEST_TYPES)})
    if response.status == 404:
        return None
    if response.status >= 400:
        raise PublishError(
            f"The registry {host} answered {response.status} for {repository}:"
            f"{reference}: {response.text()[:200]}. Check the target's registry credentials."
        )
    content = response.body
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    served = response.headers.get("Docker-Content-Digest", digest)
    if served != digest:
        raise PublishError(
            f"The registry {host} says {repository}:{reference} is {served}, but the manifest it "
            f"served hashes to {digest}."
        )
    body = json.loads(content)
    media_type = str(body.get("mediaType") or response.headers.get("Content-Type", ""))
    return Manifest(digest, media_type, body, content)


def put_manifest(host: str, repository: str, tag: str, manifest: Manifest, access: Access) -> None:
    """Point ``tag`` at ``manifest`` (its exact bytes, so its digest stays)."""
    url = f"{access.scheme()}://{host}/v2/{repository}/manifests/{tag}"
    headers = {"Content-Type": manifest.media_type}
    response = _get(url, access, headers, "PUT", manifest.content)
    served = response.headers.get("Docker-Content-Digest", manifest.digest)
    if response.status >= 400 or served != manifest.digest:
        raise PublishError(
            f"The registry {host} answered {response.status} to tagging {repository}:{tag} as "
            f"{manifest.digest} (it names {served}): {response.text()[:200]}. Check that the "
            "target's registry credentials may push, then publish again."
        )
