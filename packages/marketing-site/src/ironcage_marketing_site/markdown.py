"""A minimal, predictable markdown subset converted to HTML.

Supported blocks: ATX headings (``#`` to ``######``), paragraphs, unordered lists (``-`` or
``*``), ordered lists (``1.``), block quotes (``>``), fenced code blocks (three backticks,
optional language) and raw HTML blocks (a block whose first line starts with ``<`` is passed
through unchanged). Supported inline markup: ``code``, **strong**, *emphasis* and
[links](url). Everything else is escaped. A link's target must be http(s), mailto or
relative (``javascript:``, ``data:`` and other schemes raise :class:`UnsafeLinkError`).
"""

from __future__ import annotations

import html
import re

_HEADING = re.compile(r"(#{1,6})\s+(.*?)\s*#*\s*$")
_UL_ITEM = re.compile(r"[-*]\s+(.*)")
_OL_ITEM = re.compile(r"\d+[.)]\s+(.*)")
_FENCE = re.compile(r"```\s*([\w+-]*)\s*$")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_STRONG = re.compile(r"\*\*(.+?)\*\*")
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


class UnsafeLinkError(ValueError):
    """A link whose target could run script or leave the allowed schemes."""


def _link(match: re.Match[str]) -> str:
    label, target = match.group(1), match.group(2)
    # The target is already HTML-escaped; browsers decode entities and drop control
    # characters before they read the scheme, so do the same before checking it.
    decoded = re.sub(r"[\x00-\x20]", "", html.unescape(target))
    scheme = _SCHEME.match(decoded)
    if scheme and scheme.group(1).lower() not in _SAFE_SCHEMES:
        raise UnsafeLinkError(
            f"link target {html.unescape(target)!r} is not allowed: use an http(s):// or "
            "mailto: URL, or a relative path"
        )
    return f'<a href="{target}">{label}</a>'


_EM = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")


def slugify(text: str) -> str:
    """A lowercase, hyphenated identifier for ``text`` (used for heading ids)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "section"


def _inline_text(text: str) -> str:
    escaped = html.escape(text, quote=True)
    escaped = _LINK.sub(_link, escaped)
    escaped = _STRONG.sub(r"<strong>\1</strong>", escaped)
    return _EM.sub(r"<em>\1</em>", escaped)


def inline(text: str) -> str:
    """Convert inline markup in ``text``; code spans are escaped and left alone."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # unbalanced backtick: treat the last one literally
        parts[-2:] = [parts[-2] + "`" + parts[-1]]
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(f"<code>{html.escape(part, quote=False)}</code>")
        else:
            out.append(_inline_text(part))
    return "".join(out)


def markdown_to_html(source: str) -> str:
    """Render ``source`` (the subset described in this module's docstring) to HTML."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    used_ids: dict[str, int] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue

        fence = _FENCE.match(stripped)
        if fence:
            i += 1
            code: list[str] = []
            while i < len(lines) and lines[i].strip() != "```":
                code.append(lines[i])
                i += 1
            i += 1  # closing fence (or end of input)
            lang = fence.group(1)
            attr = f' class="language-{lang}"' if lang else ""
            body = html.escape("\n".join(code), quote=False)
            out.append(f"<pre><code{attr}>{body}</code></pre>")
            continue

        heading = _HEADING.match(stripped)
        if heading:
            level = len(heading.group(1))
            text = heading.group(2)
            anchor = slugify(re.sub(r"[`*]", "", text))
            count = used_ids.get(anchor, 0)
            used_ids[anchor] = count + 1
            if count:
                anchor = f"{anchor}-{count}"
            out.append(f'<h{level} id="{anchor}">{inline(text)}</h{level}>')
            i += 1
            continue

        block: list[str] = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i])
            i += 1
            # Headings and fences end a block even without a blank line.
            if i < len(lines) and (
                _HEADING.match(lines[i].strip()) or _FENCE.match(lines[i].strip())
            ):
                break
        out.append(_render_block(block))
    return "\n".join(out) + "\n"


def _render_block(block: list[str]) -> str:
    first = block[0].lstrip()
    if first.startswith("<"):
        return "\n".join(block)
    if first.startswith(">"):
        inner = [line.lstrip()[1:].lstrip() for line in block]
        return f"<blockquote><p>{inline(' '.join(inner))}</p></blockquote>"
    for pattern, tag in ((_UL_ITEM, "ul"), (_OL_ITEM, "ol")):
        if pattern.match(first):
            items: list[str] = []
            for line in block:
                match = pattern.match(line.lstrip())
                if match:
                    items.append(match.group(1))
                elif items:  # continuation line of the previous item
                    items[-1] += " " + line.strip()
            lis = "".join(f"<li>{inline(item)}</li>" for item in items)
            return f"<{tag}>{lis}</{tag}>"
    return f"<p>{inline(' '.join(line.strip() for line in block))}</p>"
