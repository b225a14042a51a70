"""The index client against the real pypiserver: it serves only the HTML simple page."""

from __future__ import annotations

from pathlib import Path

import pytest

from releasekit.core import http
from releasekit.core.errors import ConflictError, PreflightError
from releasekit.deploy import testbed
from releasekit.publish import index

pytestmark = pytest.mark.integration

WHEEL = "index_probe-1.0-py3-none-any.whl"


@pytest.fixture
def served(pypi: testbed.Service) -> bytes:
    """A file placed in pypiserver's package folder, as an upload would leave it."""
    data = b"bytes of a wheel the index serves"
    (Path(pypi.data) / "packages" / WHEEL).write_bytes(data)
    return data


def test_pypiserver_answers_html_to_a_pep_691_client(pypi: testbed.Service, served: bytes) -> None:
    answer = http.get(
        f"{pypi.url}/simple/index-probe/", headers={"Accept": index.PEP691_JSON}
    ).raise_for_status()
    assert answer.headers.get_content_type() == "text/html"


def test_index_files_falls_back_to_the_html_page(pypi: testbed.Service, served: bytes) -> None:
    files = index.index_files(f"{pypi.url}/simple", "Index.Probe")
    assert list(files) == [WHEEL]
    assert http.get(files[WHEEL]).body == served


def test_upload_skips_identical_and_refuses_different(
    pypi: testbed.Service, served: bytes, tmp_path: Path
) -> None:
    local = tmp_path / WHEEL
    local.write_bytes(served)
    auth = ("ci", "pypi-test-password")
    (done,) = index.upload([local], pypi.url, auth=auth)
    assert done.status == "skipped"
    local.write_bytes(b"something else")
    with pytest.raises(ConflictError, match=rf"{WHEEL} is already on {pypi.url}/simple"):
        index.upload([local], pypi.url, auth=auth)


def test_check_credentials_names_the_refusal_without_the_password(pypi: testbed.Service) -> None:
    index.check_credentials(pypi.url, "ci", "pypi-test-password", "the test")
    with pytest.raises(PreflightError, match=r"refused the upload credentials \(40[13] ") as exc:
        index.check_credentials(pypi.url, "ci", "not-the-password", "the test")
    assert "not-the-password" not in str(exc.value)
