from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parent.parent / "web"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, tuple[str, dict[str, str | None]]] = {}
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inputs: list[dict[str, str | None]] = []
        self._form: str | None = None
        self.form_inputs: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids[str(attributes["id"])] = (tag, attributes)
        if tag == "script" and attributes.get("src"):
            self.scripts.append(str(attributes["src"]))
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(str(attributes["href"]))
        if tag == "form":
            self._form = attributes.get("id")
        if tag == "input" and self._form:
            self.form_inputs.setdefault(self._form, []).append(str(attributes.get("name")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


@pytest.fixture(scope="module")
def page() -> _Collector:
    parser = _Collector()
    parser.feed((WEB / "index.html").read_text(encoding="utf-8"))
    return parser


def test_web_files_exist() -> None:
    for name in ("index.html", "app.js", "style.css"):
        assert (WEB / name).is_file(), name


def test_index_references_assets(page: _Collector) -> None:
    assert "app.js" in page.scripts
    assert "style.css" in page.stylesheets


@pytest.mark.parametrize(
    ("element_id", "tag"),
    [("agents", "table"), ("create-agent", "form"), ("error", "div"), ("version", "span")],
)
def test_index_has_required_ids(page: _Collector, element_id: str, tag: str) -> None:
    assert element_id in page.ids
    assert page.ids[element_id][0] == tag


def test_create_form_inputs(page: _Collector) -> None:
    assert {"name", "description"} <= set(page.form_inputs["create-agent"])


def test_error_box_is_announced(page: _Collector) -> None:
    assert page.ids["error"][1].get("role") == "alert"


@pytest.mark.parametrize(
    "snippet",
    [
        '"ironcage-token"',
        '"/api"',
        "/agents",
        "/health",
        '"agent-name"',
        '"create-agent"',
        '"version"',
        '"error"',
        "Bearer ",
        "textContent",
    ],
)
def test_app_js_uses_contract(snippet: str) -> None:
    assert snippet in (WEB / "app.js").read_text(encoding="utf-8")


def test_app_js_does_not_use_inner_html() -> None:
    assert "innerHTML" not in (WEB / "app.js").read_text(encoding="utf-8")
