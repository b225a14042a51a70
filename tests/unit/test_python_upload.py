from __future__ import annotations

import pytest

from releasekit.core.errors import PublishError
from releasekit.publish.index import _Links, dist_name


@pytest.mark.parametrize(
    ("filename", "project"),
    [
        ("ironcage_cli-7.3.1-py3-none-any.whl", "ironcage-cli"),
        ("ironcage_cli-7.3.1.tar.gz", "ironcage-cli"),
        ("Foo.Bar-1.0rc1.tar.gz", "foo-bar"),
        ("ironcage_agent_runtime-1.4.2-py3-none-any.whl", "ironcage-agent-runtime"),
    ],
)
def test_dist_name(filename: str, project: str) -> None:
    assert dist_name(filename) == project


def test_dist_name_refuses_other_files() -> None:
    with pytest.raises(PublishError, match=r"neither a wheel"):
        dist_name("ironcage-7.3.1-linux-x86_64")


def test_simple_page_links() -> None:
    parser = _Links()
    parser.feed(
        '<html><body><a href="../../packages/a-1.0.tar.gz#sha256=ab">a-1.0.tar.gz</a>\n'
        '<a href="/packages/a-1.0-py3-none-any.whl">a-1.0-py3-none-any.whl</a></body></html>'
    )
    assert parser.links == {
        "a-1.0.tar.gz": "../../packages/a-1.0.tar.gz#sha256=ab",
        "a-1.0-py3-none-any.whl": "/packages/a-1.0-py3-none-any.whl",
    }
