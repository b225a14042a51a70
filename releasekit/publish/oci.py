"""The registry's HTTP API as the publish layer reads it (``releasekit.core.oci``)."""

from __future__ import annotations

from releasekit.core.oci import (
    CHART_LAYER,
    MANIFEST_TYPES,
    Access,
    Manifest,
    fetch_manifest,
    push_layout,
    put_manifest,
    split_ref,
)

__all__ = [
    "CHART_LAYER",
    "MANIFEST_TYPES",
    "Access",
    "Manifest",
    "fetch_manifest",
    "push_layout",
    "put_manifest",
    "split_ref",
]
