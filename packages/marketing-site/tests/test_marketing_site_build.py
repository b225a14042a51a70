from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ironcage_marketing_site import (
    ContentError,
    __version__,
    build,
    load_pages,
    make_tarball,
    markdown_to_html,
)
from ironcage_marketing_site.__main__ import main
from ironcage_marketing_site.builder import parse_page
from ironcage_marketing_site.markdown import UnsafeLinkError

PAGES = ["index", "features", "pricing", "docs", "404"]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.footer_text: list[str] = []
        self._in_footer = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in ("href", "src"):
            value = attributes.get(name)
            if value:
                self.links.append(value)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "footer":
            self._in_footer = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "footer":
            self._in_footer = False

    def handle_data(self, data: str) -> None:
        if self._in_footer:
            self.footer_text.append(data)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("site") / "out", version="9.8.7-test")


def test_build_returns_out_dir(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    assert build(out) == out
    assert out.is_dir()


def test_build_writes_expected_files(site: Path) -> None:
    names = sorted(p.name for p in site.iterdir())
    expected = sorted([*(f"{page}.html" for page in PAGES), "robots.txt", "sitemap.xml"])
    assert names == sorted([*expected, "style.css"])


@pytest.mark.parametrize("page", PAGES)
def test_version_in_every_footer(site: Path, page: str) -> None:
    footer = " ".join(_parse(site / f"{page}.html").footer_text)
    assert "9.8.7-test" in footer


def test_default_version_is_package_version(tmp_path: Path) -> None:
    out = build(tmp_path / "site")
    assert __version__ in " ".join(_parse(out / "index.html").footer_text)


def test_version_is_escaped(tmp_path: Path) -> None:
    out = build(tmp_path / "site", version="<b>1</b>")
    text = (out / "index.html").read_text()
    assert "&lt;b&gt;1&lt;/b&gt;" in text
    assert "<b>1</b>" not in text


@pytest.mark.parametrize("page", PAGES)
def test_links_resolve_to_existing_files(site: Path, page: str) -> None:
    parsed = _parse(site / f"{page}.html")
    local = 0
    for link in parsed.links:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc:
            assert parts.scheme == "https", link
            continue
        if not parts.path:  # same-page fragment
            assert parts.fragment in parsed.ids, link
            continue
        target = site / parts.path.lstrip("/") if parts.path.startswith("/") else site / parts.path
        assert target.is_file(), f"{page}.html links to missing {link}"
        if parts.fragment:
            assert parts.fragment in _parse(target).ids, link
        local += 1
    assert local >= 5


@pytest.mark.parametrize("page", [p for p in PAGES if p != "404"])
def test_nav_links_every_nav_page(site: Path, page: str) -> None:
    links = set(_parse(site / f"{page}.html").links)
    assert {"index.html", "features.html", "pricing.html", "docs.html"} <= links
    assert 'aria-current="page"' in (site / f"{page}.html").read_text()


def test_404_uses_root_absolute_links(site: Path) -> None:
    links = _parse(site / "404.html").links
    assert "/style.css" in links
    assert "/index.html" in links


def test_sitemap_lists_pages_but_not_404(site: Path) -> None:
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    root = ET.parse(site / "sitemap.xml").getroot()
    locs = [el.text for el in root.findall("s:url/s:loc", ns)]
    assert locs == [
        "https://ironcage.example/",
        "https://ironcage.example/features.html",
        "https://ironcage.example/pricing.html",
        "https://ironcage.example/docs.html",
    ]


def test_base_url_is_used(tmp_path: Path) -> None:
    out = build(tmp_path / "s", base_url="https://www.example.org/site/")
    assert "<loc>https://www.example.org/site/docs.html</loc>" in (out / "sitemap.xml").read_text()
    assert "Sitemap: https://www.example.org/site/sitemap.xml" in (out / "robots.txt").read_text()


def test_build_is_deterministic(tmp_path: Path) -> None:
    def digest(root: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}

    assert digest(build(tmp_path / "one")) == digest(build(tmp_path / "two"))


def test_pages_are_packaged_and_ordered() -> None:
    pages = load_pages()
    assert [p.slug for p in pages if p.nav] == ["index", "features", "pricing", "docs"]
    assert {p.slug for p in pages} == set(PAGES)


def _tar_bytes(site: Path, dest: Path) -> bytes:
    return make_tarball(site, dest).read_bytes()


def test_tarball_is_byte_identical_across_builds(tmp_path: Path) -> None:
    first = _tar_bytes(build(tmp_path / "b1", version="1.2.3"), tmp_path / "one.tar.gz")
    second = _tar_bytes(build(tmp_path / "b2", version="1.2.3"), tmp_path / "two.tar.gz")
    assert first == second


def test_tarball_metadata_is_normalised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    site = build(tmp_path / "site")
    (site / "sub").mkdir()
    (site / "sub" / "x.txt").write_text("x")
    tarball = make_tarball(site, tmp_path / "dist" / "site.tar.gz")
    raw = tarball.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime
    assert not raw[3] & 0x08  # no original file name stored
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert "index.html" in names
    assert "sub" in names
    assert "sub/x.txt" in names
    for member in members:
        assert member.mtime == 1700000000
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mode == (0o755 if member.isdir() else 0o644)
    with gzip.open(tarball) as fh:
        assert len(fh.read()) % 512 == 0


def test_tarball_mtime_defaults_to_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    tarball = make_tarball(build(tmp_path / "site"), tmp_path / "s.tar.gz")
    with tarfile.open(tarball) as tar:
        assert {m.mtime for m in tar.getmembers()} == {0}


@pytest.mark.parametrize("value", ["soon", "-5", "1.5"])
def test_invalid_source_date_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH must be a non-negative integer"):
        make_tarball(build(tmp_path / "site"), tmp_path / "s.tar.gz")


def test_tarball_inside_site_dir_excludes_itself(tmp_path: Path) -> None:
    site = build(tmp_path / "site")
    tarball = make_tarball(site, site / "site.tar.gz")
    tarball = make_tarball(site, site / "site.tar.gz")
    with tarfile.open(tarball) as tar:
        assert "site.tar.gz" not in tar.getnames()


def test_tarball_refuses_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="not a directory"):
        make_tarball(tmp_path / "nope", tmp_path / "x.tar.gz")


def test_cli_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, tarball = tmp_path / "site", tmp_path / "site.tar.gz"
    argv = ["build", "--out", str(out), "--version", "2.0.0", "--tarball", str(tarball)]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [str(out), str(tarball)]
    assert "2.0.0" in (out / "docs.html").read_text()
    assert tarball.is_file()


def test_cli_console_script_runs(tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "ironcage_marketing_site", "build", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert (out / "index.html").is_file()


def test_cli_requires_out(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["build"])
    assert excinfo.value.code == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("# Hello world", '<h1 id="hello-world">Hello world</h1>\n'),
        ("a **b** *c* `<d>`", "<p>a <strong>b</strong> <em>c</em> <code>&lt;d&gt;</code></p>\n"),
        ("[x](docs.html)", '<p><a href="docs.html">x</a></p>\n'),
        ("- one\n- two", "<ul><li>one</li><li>two</li></ul>\n"),
        ("1. one\n2. two", "<ol><li>one</li><li>two</li></ol>\n"),
        ("> quoted", "<blockquote><p>quoted</p></blockquote>\n"),
        (
            "```sh\necho <hi> $X\n```",
            '<pre><code class="language-sh">echo &lt;hi&gt; $X</code></pre>\n',
        ),
        ("<div>raw</div>", "<div>raw</div>\n"),
        ("1 < 2 & 3", "<p>1 &lt; 2 &amp; 3</p>\n"),
        ("## A\n## A", '<h2 id="a">A</h2>\n<h2 id="a-1">A</h2>\n'),
    ],
)
def test_markdown_subset(source: str, expected: str) -> None:
    assert markdown_to_html(source) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: x\nbody without separator", "missing '---'"),
        ("nav: x\n---\nbody", "needs a 'title"),
        ("title: x\ncolour: red\n---\n", "expected one of"),
        ("title: x\norder: first\n---\n", "order must be an integer"),
        ("title: x\nsitemap: maybe\n---\n", "sitemap must be"),
    ],
)
def test_front_matter_errors(text: str, message: str) -> None:
    with pytest.raises(ContentError, match=message):
        parse_page("page", text, is_markdown=True)


def test_front_matter_parsed() -> None:
    page = parse_page(
        "p", "title: T\nnav: N\norder: 3\ndescription: D\n---\nhello", is_markdown=True
    )
    assert (page.title, page.nav, page.order, page.description) == ("T", "N", 3, "D")
    assert page.body_html == "<p>hello</p>\n"
    assert page.in_sitemap


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
    ],
)
def test_unsafe_link_targets_are_refused(target: str) -> None:
    with pytest.raises(UnsafeLinkError, match="is not allowed"):
        markdown_to_html(f"[click]({target})")


@pytest.mark.parametrize(
    "target",
    ["https://example.com/a?b=1", "http://example.com", "mailto:hi@example.com", "/docs",
     "docs.html", "#pricing", "../up"],
)  # fmt: skip
def test_safe_link_targets_pass(target: str) -> None:
    assert f'href="{target}"' in markdown_to_html(f"[ok]({target})").replace("&amp;", "&")


def test_an_unsafe_link_names_the_page(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match=r"evil: link target .javascript:void0. is not allowed"):
        parse_page("evil", "title: Evil\n---\n[x](javascript:void0)\n", is_markdown=True)
