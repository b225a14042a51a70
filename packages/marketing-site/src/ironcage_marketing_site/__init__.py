"""IronCage marketing site: renders the site from packaged templates and content."""

from __future__ import annotations

__version__ = "0.1.0"

from ironcage_marketing_site.builder import (
    DEFAULT_BASE_URL,
    ContentError,
    Page,
    build,
    load_pages,
)
from ironcage_marketing_site.markdown import markdown_to_html
from ironcage_marketing_site.tarball import make_tarball

__all__ = [
    "DEFAULT_BASE_URL",
    "ContentError",
    "Page",
    "__version__",
    "build",
    "load_pages",
    "make_tarball",
    "markdown_to_html",
]
