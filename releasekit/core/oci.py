"""An OCI registry over its HTTP API: manifests and blobs read, and pushed.

Signing and verification must see what the registry serves, not what the local engine
remembers, so manifests are read straight from ``/v2/<repository>/manifests/<reference>``.
The build's shared cache stores files as OCI artifacts: ``push_blob`` uploads a blob
(monolithic ``POST`` then ``PUT ?digest=``), ``push_manifest`` puts a manifest under a tag,
``fetch_blob`` reads a blob back, ``put_manifest`` tags a manifest the registry already
holds (its exact bytes, so its digest stays). ``push_layout`` uploads an image of an OCI
layout directory as its bytes are (the digest stays the layout's). Anonymous first; on a
401 the challenge is answered with basic auth or a bearer token fetched with the target's
credentials (as docker, helm and cosign do).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releasekit.core import http
from releasekit.core.errors import HttpError, PublishError

__all__ = [
    "CHART_LAYER",
    "MANIFEST_TYPES",
    "OCI_MANIFEST",
    "Access",
    "Manifest",
    "blob_digest",
    "fetch_blob",
    "fetch_manifest",
    "push_blob",
    "push_layout",
    "push_manifest",
    "put_manifest",
    "split_ref",
]

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
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


def _send(
    method: str,
    url: str,
    access: Access,
    headers: dict[str, str],
    data: bytes | None = None,
) -> http.Response:
    """``method`` on ``url``, answering one auth challenge with the credentials of ``access``."""

    def send(auth: http.Auth | None) -> http.Response:
        return http.request(method, url, headers=headers, data=data, auth=auth, timeout=_TIMEOUT)

    try:
        response = send(None)
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


def _get(url: str, access: Access, headers: dict[str, str]) -> http.Response:
    return _send("GET", url, access, headers)


def _refused(host: str, what: str, response: http.Response) -> PublishError:
    return PublishError(
        f"The registry {host} answered {response.status} to {what}: "
        f"{response.text()[:200]}. Check the target's registry credentials (push needs write "
        "access to the repository)."
    )


def blob_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(host: str, repository: str, data: bytes, access: Access) -> str:
    """Upload ``data`` as a blob of ``repository`` (kept when already there); its digest."""
    digest = blob_digest(data)
    base = f"{access.scheme()}://{host}/v2/{repository}/blobs"
    if _send("HEAD", f"{base}/{digest}", access, {}).status == 200:
        return digest
    started = _send("POST", f"{base}/uploads/", access, {"Content-Length": "0"}, b"")
    location = started.headers.get("Location", "")
    if started.status != 202 or not location:
        raise _refused(host, f"a blob upload to {repository}", started)
    if location.startswith("/"):
        location = f"{access.scheme()}://{host}{location}"
    separator = "&" if "?" in location else "?"
    done = _send(
        "PUT",
        f"{location}{separator}digest={digest}",
        access,
        {"Content-Type": "application/octet-stream"},
        data,
    )
    if done.status != 201:
        raise _refused(host, f"the blob {digest} of {repository}", done)
    return digest


def push_manifest(
    host: str, repository: str, reference: str, body: bytes, access: Access, media_type: str
) -> str:
    """Put ``body`` (a manifest of ``media_type``) under the tag ``reference``; its digest."""
    url = f"{access.scheme()}://{host}/v2/{repository}/manifests/{reference}"
    response = _send("PUT", url, access, {"Content-Type": media_type}, body)
    if response.status != 201:
        raise _refused(host, f"the manifest {repository}:{reference}", response)
    return blob_digest(body)


def fetch_blob(host: str, repository: str, digest: str, access: Access) -> bytes | None:
    """The bytes the registry serves for blob ``digest`` (unchecked), None when it has none."""
    url = f"{access.scheme()}://{host}/v2/{repository}/blobs/{digest}"
    response = _get(url, access, {})
    if response.status == 404:
        return None
    if response.status >= 400:
        raise _refused(host, f"the blob {repository}@{digest}", response)
    return response.body


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
    response = _send("PUT", url, access, headers, manifest.content)
    served = response.headers.get("Docker-Content-Digest", manifest.digest)
    if response.status >= 400 or served != manifest.digest:
        raise PublishError(
            f"The registry {host} answered {response.status} to tagging {repository}:{tag} as "
            f"{manifest.digest} (it names {served}): {response.text()[:200]}. Check that the "
            "target's registry credentials may push, then publish again."
        )


def _layout_blob(layout: Path, digest: str) -> bytes:
    algorithm, _, hexdigest = digest.partition(":")
    data = (layout / "blobs" / algorithm / hexdigest).read_bytes()
    if blob_digest(data) != digest:
        raise PublishError(
            f"{layout}/blobs/{algorithm}/{hexdigest} does not hash to its name: the layout is "
            "damaged. Write it again."
        )
    return data


def push_layout(
    host: str, repository: str, layout: Path, digest: str, tag: str, access: Access
) -> str:
    """Upload the image ``digest`` (an index or a manifest) of the OCI layout ``layout`` to
    ``repository`` as its bytes are, blobs the registry holds kept; tag it ``tag``.

    Nothing is recompressed, so the registry serves ``digest``, which is returned.
    """
    top = _layout_blob(layout, digest)
    body = json.loads(top)
    children = [
        (str(c["digest"]), str(c["mediaType"]), _layout_blob(layout, str(c["digest"])))
        for c in body.get("manifests") or []
    ]
    for image in [json.loads(content) for _, _, content in children] or [body]:
        for blob in (image["config"], *image.get("layers", [])):
            push_blob(host, repository, _layout_blob(layout, str(blob["digest"])), access)
    for child, media_type, content in children:
        push_manifest(host, repository, child, content, access, media_type)
    media_type = str(body.get("mediaType") or "application/vnd.oci.image.index.v1+json")
    return push_manifest(host, repository, tag, top, access, media_type)
