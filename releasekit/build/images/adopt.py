"""The registry a release publishes its images to, as the build and the publish step name it.

Images are reproducible (BuildKit, ``rewrite-timestamp``), so a re-run of a release on
another machine builds the digest the registry already holds: it is recognised by that
digest, never by labels, and the publish step refuses any other digest under a version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from releasekit.core.errors import PreflightError

__all__ = ["DEFAULT_NAMESPACE", "Source"]

DEFAULT_NAMESPACE = "ironcage"


@dataclass(frozen=True)
class Source:
    """The registry a release publishes its images to: host, namespace and credentials."""

    host: str
    namespace: str = DEFAULT_NAMESPACE
    auth: Mapping[str, str] | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, registry: str, auth: Mapping[str, str] | None = None) -> Source:
        """From ``HOST[:PORT][/NAMESPACE]`` (the target's ``registry``)."""
        value = registry.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        host, _, namespace = value.partition("/")
        if not host or any(c in value for c in " @"):
            raise PreflightError(
                f"Registry {registry!r} is not HOST[:PORT][/NAMESPACE], e.g. 127.0.0.1:5000 or "
                "ghcr.io/ironcage. Pass --registry or set RELEASEKIT_REGISTRY."
            )
        return cls(host, namespace or DEFAULT_NAMESPACE, auth)

    def repository(self, image: str) -> str:
        """``HOST/NAMESPACE/<image>``."""
        return f"{self.host}/{self.namespace}/{image}"
