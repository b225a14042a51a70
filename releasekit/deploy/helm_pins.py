"""Images of a chart pinned to the digests a release pushed (dist/<version>/images.json).

``image_sets`` turns the images.json of a release into helm ``--set`` values, and pins the
chart's third-party images ([[third_party]] of release.toml) to their copy in the target's
registry: the digests of ``third-party.json`` beside images.json, else release.toml's.
``user_values`` is what helm records as a release's user-supplied values for a values file
and those sets, so a deploy can tell that the release already runs exactly this.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from releasekit.core.artifact import read_images
from releasekit.publish import third_party
from releasekit.publish.charts import Chart
from releasekit.publish.registry import split_registry
from releasekit.publish.trust import Trust, verify_images

__all__ = [
    "chart_images", "check_pins", "image_pins", "image_sets", "pinned_refs", "user_values",
]  # fmt: skip


def _image_keys(values: Any, prefix: str = "") -> dict[str, str]:
    """Image name -> values path of its ``image`` block (``api.image``), from values.yaml."""
    found: dict[str, str] = {}
    if not isinstance(values, dict):
        return found
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key == "image" and isinstance(value, dict) and isinstance(value.get("repository"), str):
            found[value["repository"].rsplit("/", 1)[-1]] = path
        found.update(_image_keys(value, f"{path}."))
    return found


def chart_images(chart: Chart) -> list[str]:
    """The image names (last path part) the chart's values.yaml declares an ``image`` for."""
    import yaml

    defaults = yaml.safe_load((chart.dir / "values.yaml").read_text(encoding="utf-8")) or {}
    return sorted(_image_keys(defaults))


def image_pins(images_json: Path) -> dict[str, tuple[str, str]]:
    """Image name -> (pushed repository, sha256 digest) from dist/<version>/images.json."""
    return {
        name.rsplit("/", 1)[-1]: (pin.repository, pin.digest)
        for name, pin in read_images(images_json).items()
    }


def image_sets(
    chart: Chart,
    images_json: Path | None,
    registry: str | None,
    released: frozenset[str] | None = None,
) -> list[str]:
    """``--set`` values pinning the chart's images to their released digests and registry.

    ``registry`` is ``HOST[:PORT][/NAMESPACE]``; without it, the host and path each image was
    pushed to (images.json) are used. A repository differing from the chart's default (another
    namespace) is set too, so the reference always names where the image really is. Only the
    ``released`` images are touched (default: those of images.json, else every image); a
    third-party image of the chart (a Redis) is pinned by ``third_party_sets``.
    """
    import yaml

    defaults = yaml.safe_load((chart.dir / "values.yaml").read_text(encoding="utf-8")) or {}
    pins = image_pins(images_json) if images_json is not None and images_json.is_file() else {}
    ours = released if released is not None else (frozenset(pins) or None)
    host, _, namespace = (registry or "").strip("/").partition("/")
    sets: list[str] = []
    others = {image.name for image in third_party.declared(chart.root)}
    for image, key in sorted(_image_keys(defaults).items()):
        if (ours is not None and image not in ours) or image in others:
            continue
        path = f"{namespace}/{image}" if namespace else ""
        if image in pins:
            pushed, digest = pins[image]
            sets.append(f"{key}.digest={digest}")
            pushed_host, _, pushed_path = pushed.partition("/")
            if "." in pushed_host or ":" in pushed_host or pushed_host == "localhost":
                host = host or pushed_host
                path = path or pushed_path
        if path and path != _lookup(defaults, f"{key}.repository"):
            sets.append(f"{key}.repository={path}")
    if host:
        sets.insert(0, f"image.registry={host}")
    return sets + third_party_sets(chart, images_json, registry)


def third_party_pins(
    chart: Chart, images_json: Path | None, registry: str | None
) -> dict[str, tuple[str, str]]:
    """Third-party image name -> (repository in the target's registry, digest).

    From ``third-party.json`` beside ``images_json`` when the release wrote one; else, given
    the target's ``registry``, release.toml's pins at ``<registry>/<name>``; else none (the
    chart's own digest-pinned defaults).
    """
    recorded = images_json.parent / third_party.THIRD_PARTY_FILE if images_json else None
    if recorded is not None and recorded.is_file():
        return {n: (p.repository, p.digest) for n, p in third_party.read(recorded).items()}
    if not registry:
        return {}
    host, namespace = split_registry(registry)
    return {
        image.name: (f"{host}/{namespace}/{image.name}", image.digest)
        for image in third_party.declared(chart.root)
    }


def third_party_sets(chart: Chart, images_json: Path | None, registry: str | None) -> list[str]:
    """``--set`` values pinning the chart's third-party images (registry, repository, digest)."""
    import yaml

    pins = third_party_pins(chart, images_json, registry)
    if not pins:
        return []
    defaults = yaml.safe_load((chart.dir / "values.yaml").read_text(encoding="utf-8")) or {}
    sets: list[str] = []
    for image, key in sorted(_image_keys(defaults).items()):
        if image in pins:
            repository, digest = pins[image]
            host, _, path = repository.partition("/")
            sets += [f"{key}.registry={host}", f"{key}.repository={path}", f"{key}.digest={digest}"]
    return sets


def _lookup(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def user_values(values_file: Path, sets: list[str]) -> dict[str, Any]:
    """The values file with ``key.path=value`` sets applied, as ``helm get values`` shows them."""
    import yaml

    merged: Any = yaml.safe_load(values_file.read_text(encoding="utf-8")) or {}
    for item in sets:
        dotted, _, value = item.partition("=")
        node = merged
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return dict(merged)


def pinned_refs(
    chart_dir: Path,
    values_file: Path,
    sets: Sequence[str],
    released: Collection[str] | None = None,
) -> dict[str, str]:
    """Image name -> ``REGISTRY/REPOSITORY@DIGEST`` of each image ``sets`` pin by digest.

    The reference the chart renders: the block's own ``registry``, else ``image.registry``,
    over the chart's defaults, the values file and the sets. Only the ``released`` images
    (default: every one) are named: a third-party image is not signed by the release key.
    """
    import yaml

    defaults = yaml.safe_load((chart_dir / "values.yaml").read_text(encoding="utf-8")) or {}
    merged = _merge(defaults, user_values(values_file, list(sets)))
    pinned = {item.partition("=")[0].removesuffix(".digest") for item in sets}
    refs = {}
    for image, key in sorted(_image_keys(defaults).items()):
        block = _lookup(merged, key)
        if released is not None and image not in released:
            continue
        if key not in pinned or not isinstance(block, dict) or not block.get("digest"):
            continue
        registry = block.get("registry") or _lookup(merged, "image.registry") or ""
        where = f"{registry}/{block['repository']}" if registry else str(block["repository"])
        refs[image] = f"{where}@{block['digest']}"
    return refs


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {k: _merge(base.get(k), over[k]) if k in over else base[k] for k in {*base, *over}}
    return over if over is not None else base


def check_pins(
    root: Path,
    planned: Iterable[tuple[Path, Sequence[str]]],
    trust: Trust,
    released: Collection[str] | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> None:
    """Every ``released`` image digest the planned ``(values file, sets)`` pin, signed by the
    release key."""
    refs: dict[str, str] = {}
    for values, sets in planned:
        refs.update(pinned_refs((root / values).parent, root / values, sets, released))
    verify_images(refs, trust, say)
