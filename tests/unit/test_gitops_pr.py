"""A GitOps change proposed as a pull request: the branch in a real repository, the request
as a local HTTP server playing the GitHub API receives it."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from releasekit.core.errors import HttpError, PreflightError
from releasekit.deploy import gitops_pr
from releasekit.deploy.gitops_env import GitOpsEnv
from releasekit.deploy.gitops_repo import checkout
from releasekit.deploy.kube import Kube

TOKEN = "ghp_test-token-0123456789"


class _GitHub(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    status = 201

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.received.append({"path": self.path, "headers": headers, "body": json.loads(body)})
        answer = (
            {"html_url": "https://github.com/acme/environments/pull/7", "number": 7}
            if self.status == 201
            else {"message": "Validation Failed"}
        )
        data = json.dumps(answer).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_GitHub]]:
    handler = type("Handler", (_GitHub,), {"received": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{httpd.server_port}/api/v3")
    monkeypatch.setenv("ENVIRONMENTS_TOKEN", TOKEN)
    try:
        yield handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _env(repository: str = "https://github.com/acme/environments.git") -> GitOpsEnv:
    kube = Kube(None, None)
    return GitOpsEnv("staging", repository, "main", "clusters/staging", "staging",
                     "ironcage-staging", kube, token_env="ENVIRONMENTS_TOKEN")  # fmt: skip


def _remote(tmp_path: Path) -> Path:
    remote = tmp_path / "environments.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)],
                   check=True)  # fmt: skip
    return remote


def test_a_proposal_pushes_its_own_branch_and_opens_the_pull_request(
    tmp_path: Path, github: type[_GitHub]
) -> None:
    remote = _remote(tmp_path)
    copy = checkout(tmp_path / "root", str(remote), "main")
    commit = copy.write("clusters/staging", {"desired.json": "{}\n"}, "promote(staging): 1.4.2")
    assert commit is not None

    made = gitops_pr.propose(copy, _env(), "1.4.2", commit, "promote(staging): ironcage 1.4.2")

    assert made.url == "https://github.com/acme/environments/pull/7"
    assert made.branch == f"releasekit/staging-1.4.2-{commit[:12]}"
    refs = ["git", "-C", str(remote), "for-each-ref", "--format=%(refname) %(objectname)"]
    heads = subprocess.run(refs, check=True, capture_output=True, text=True).stdout
    assert heads.splitlines() == [f"refs/heads/{made.branch} {commit}"]  # main untouched
    (sent,) = github.received
    assert sent["path"] == "/api/v3/repos/acme/environments/pulls"
    assert sent["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert sent["headers"]["accept"] == "application/vnd.github+json"
    assert sent["headers"]["x-github-api-version"] == "2022-11-28"
    assert sent["body"]["head"] == made.branch
    assert sent["body"]["base"] == "main"
    assert sent["body"]["title"] == "promote(staging): ironcage 1.4.2"
    assert "clusters/staging" in sent["body"]["body"]


def test_a_refused_pull_request_names_the_repository_and_hides_the_token(
    tmp_path: Path, github: type[_GitHub]
) -> None:
    github.status = 422
    remote = _remote(tmp_path)
    copy = checkout(tmp_path / "root", str(remote), "main")
    commit = copy.write("clusters/staging", {"desired.json": "{}\n"}, "promote(staging): 1.4.2")
    assert commit is not None
    with pytest.raises(HttpError) as caught:
        gitops_pr.propose(copy, _env(), "1.4.2", commit, "promote(staging): ironcage 1.4.2")
    message = str(caught.value)
    assert "422" in message and "acme/environments" in message and "pull-requests: write" in message
    assert TOKEN not in message


@pytest.mark.parametrize(
    "repository",
    ["sandbox", "ssh://git@github.com/acme/environments.git", "https://github.com/acme"],
)
def test_a_pull_request_needs_an_https_github_repository(repository: str) -> None:
    with pytest.raises(PreflightError, match="--pull-request needs an https GitHub repository"):
        gitops_pr.github_repository(_env(repository))


def test_the_owner_and_name_come_from_the_url() -> None:
    assert gitops_pr.github_repository(_env()) == ("acme", "environments")
    url = "https://ghe.example.com/platform/envs"
    assert gitops_pr.github_repository(_env(url)) == ("platform", "envs")
