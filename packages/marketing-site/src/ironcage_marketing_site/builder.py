"""Render the site: content pages + ``string.Template`` templates -> a folder of static files."""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape as xml_escape

from ironcage_marketing_site import __version__
from ironcage_marketing_site.markdown import UnsafeLinkError, markdown_to_html

SITE_NAME = "IronCage"
# Used for absolute URLs in sitemap.xml and robots.txt; pass the real one with --base-url.
DEFAULT_BASE_URL = "https://ironcage.example"
NOT_FOUND_SLUG = "404"
_FRONT_MATTER_END = "---"
_KNOWN_KEYS = frozenset({"title", "nav", "order", "description", "sitemap"})


class ContentError(ValueError):
    """A content page or template is malformed."""


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    body_html: str
    nav: str | None = None
    order: int = 1000
    description: str = ""
    in_sitemap: bool = True

    @property
    def filename(self) -> str:
        return f"{self.slug}.html"


def _package_dir(name: str) -> Traversable:
    return resources.files("ironcage_marketing_site").joinpath(name)


def _body_html(slug: str, body: str) -> str:
    try:
        return markdown_to_html(body)
    except UnsafeLinkError as exc:
        raise ContentError(f"{slug}: {exc}") from None


def parse_page(slug: str, text: str, *, is_markdown: bool) -> Page:
    """Parse a content file: ``key: value`` header lines, a ``---`` line, then the body."""
    lines = text.replace("\r\n", "\n").split("\n")
    try:
        end = [line.strip() for line in lines].index(_FRONT_MATTER_END)
    except ValueError:
        raise ContentError(f"{slug}: missing '---' line after the front matter") from None
    meta: dict[str, str] = {}
    for number, line in enumerate(lines[:end], start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep or key not in _KNOWN_KEYS:
            raise ContentError(f"{slug}:{number}: expected one of {sorted(_KNOWN_KEYS)}: {line!r}")
        meta[key] = value.strip()
    if not meta.get("title"):
        raise ContentError(f"{slug}: front matter needs a 'title: ...' line")
    body = "\n".join(lines[end + 1 :])
    try:
        order = int(meta.get("order", "1000"))
    except ValueError:
        raise ContentError(f"{slug}: order must be an integer") from None
    sitemap = meta.get("sitemap", "yes").lower()
    if sitemap not in ("yes", "no"):
        raise ContentError(f"{slug}: sitemap must be 'yes' or 'no'")
    return Page(
        slug=slug,
        title=meta["title"],
        body_html=_body_html(slug, body) if is_markdown else body.strip() + "\n",
        nav=meta.get("nav") or None,
        order=order,
        description=meta.get("description", ""),
        in_sitemap=sitemap == "yes" and slug != NOT_FOUND_SLUG,
    )


def load_pages() -> list[Page]:
    """The packaged content pages (``content/*.md`` and ``content/*.html``), in nav order."""
    pages: list[Page] = []
    for entry in _package_dir("content").iterdir():
        name = entry.name
        if name.endswith(".md"):
            slug, is_markdown = name[:-3], True
        elif name.endswith(".html"):
            slug, is_markdown = name[:-5], False
        else:
            continue
        pages.append(parse_page(slug, entry.read_text(encoding="utf-8"), is_markdown=is_markdown))
    slugs = [page.slug for page in pages]
    duplicates = sorted({slug for slug in slugs if slugs.count(slug) > 1})
    if duplicates:
        raise ContentError(f"duplicate page(s): {', '.join(duplicates)}")
    if "index" not in slugs:
        raise ContentError("content/ must contain an index page")
    return sorted(pages, key=lambda page: (page.order, page.slug))


def _load_template(name: str) -> Template:
    return Template(_package_dir("templates").joinpath(name).read_text(encoding="utf-8"))


def _nav_html(pages: list[Page], current: Page, root: str) -> str:
    items = []
    for page in pages:
        if page.nav is None:
            continue
        current_attr = ' aria-current="page"' if page.slug == current.slug else ""
        items.append(
            f'<li><a href="{root}{page.filename}"{current_attr}>{html.escape(page.nav)}</a></li>'
        )
    return "\n        ".join(items)


def _page_url(base_url: str, page: Page) -> str:
    path = "" if page.slug == "index" else page.filename
    return f"{base_url.rstrip('/')}/{path}"


def _sitemap(pages: list[Page], base_url: str) -> str:
    urls = "".join(
        f"  <url><loc>{xml_escape(_page_url(base_url, page))}</loc></url>\n"
        for page in pages
        if page.in_sitemap
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{urls}"
        "</urlset>\n"
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def render_page(page: Page, pages: list[Page], version: str, template: Template) -> str:
    # The 404 page is served for arbitrary missing paths, so its links must be root-absolute;
    # every other page uses relative links (works from a sub-path and from the file system).
    root = "/" if page.slug == NOT_FOUND_SLUG else ""
    title = SITE_NAME if page.slug == "index" else f"{page.title} | {SITE_NAME}"
    try:
        return template.substitute(
            site_name=html.escape(SITE_NAME),
            title=html.escape(title),
            heading=html.escape(page.title),
            description=html.escape(page.description or page.title),
            root=root,
            nav=_nav_html(pages, page, root),
            content=page.body_html,
            version=html.escape(version),
            slug=page.slug,
        )
    except (KeyError, ValueError) as exc:
        raise ContentError(f"template error while rendering {page.slug}: {exc}") from exc


def build(
    out_dir: Path,
    version: str | None = None,
    *,
    base_url: str = DEFAULT_BASE_URL,
) -> Path:
    """Render the site into ``out_dir`` (created if needed) and return it.

    Writes one ``<slug>.html`` per content page (including ``404.html``), the static assets
    (``style.css``), ``sitemap.xml`` and ``robots.txt``. Existing files with the same names are
    overwritten; other files are left alone, so build into a fresh directory for a clean site.
    ``version`` (default: this package's version) is shown in every page's footer.
    """
    out_dir = Path(out_dir)
    version = __version__ if version is None else version
    if not version.strip():
        raise ValueError("version must not be empty")
    pages = load_pages()
    if not any(page.slug == NOT_FOUND_SLUG for page in pages):
        raise ContentError(f"content/ must contain a {NOT_FOUND_SLUG} page")
    template = _load_template("base.html")
    out_dir.mkdir(parents=True, exist_ok=True)

    for page in pages:
        _write(out_dir / page.filename, render_page(page, pages, version, template))
    for asset in sorted(_package_dir("static").iterdir(), key=lambda entry: entry.name):
        if asset.is_file() and not asset.name.startswith("."):
            (out_dir / asset.name).write_bytes(asset.read_bytes())
    _write(out_dir / "sitemap.xml", _sitemap(pages, base_url))
    _write(
        out_dir / "robots.txt",
        f"User-agent: *\nAllow: /\nSitemap: {base_url.rstrip('/')}/sitemap.xml\n",
    )
    return out_dir
