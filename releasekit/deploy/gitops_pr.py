"""A GitOps change proposed as a pull request instead of pushed to the environment's branch.

The commit goes to a branch of its own (``releasekit/<env>-<version>-<commit>``) of the
environment repository, and a pull request into the environment's branch is opened through
the GitHub REST API (``POST /repos/OWNER/REPO/pulls``) with the environment's token. The API
is ``GITHUB_API_URL`` (set by GitHub Actions; GitHub Enterprise) or https://api.github.com.
Nothing waits for Flux: the change runs once the pull request is merged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from releasekit.core import http
from releasekit.core.errors import PreflightError, PublishError
from releasekit.deploy.gitops_env import GitOpsEnv
from releasekit.deploy.gitops_repo import Checkout

__all__ = ["API", "Proposal", "github_repository", "open_pull_request", "propose"]

API = "https://api.github.com"
_GITHUB = re.compile(r"^https://(?:[^@/]+@)?([^/]+)/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


@dataclass(frozen=True)
class Proposal:
    """A desired state committed to its own branch, with the pull request that proposes it."""

    env: str
    commit: str
    version: str
    branch: str
    url: str

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "commit": self.commit, "version": self.version,
                "branch": self.branch, "pull_request": self.url}  # fmt: skip


def github_repository(env: GitOpsEnv) -> tuple[str, str]:
    """(owner, name) of the environment's https repository on GitHub; PreflightError otherwise."""
    found = _GITHUB.match(env.repository)
    if found is None or not env.token_env:
        raise PreflightError(
            f"Environment `{env.name}` keeps its desired state in {env.repository}, where no "
            "pull request can be opened: --pull-request needs an https GitHub repository "
            "(https://HOST/OWNER/REPO.git) and `token_env` in its [environments."
            f"{env.name}] table. Leave out --pull-request to push to {env.branch} directly."
        )
    return found.group(2), found.group(3)


def open_pull_request(
    api: str, owner: str, repo: str, token: str, *, head: str, base: str, title: str, body: str
) -> str:
    """Open a pull request of ``head`` into ``base``; its html URL. PublishError otherwise."""
    url = f"{api.rstrip('/')}/repos/{owner}/{repo}/pulls"
    answer = http.request(
        "POST", url, auth=http.Auth.bearer(token),
        headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
        json_body={"title": title, "head": head, "base": base, "body": body},
    )  # fmt: skip
    if not answer.ok:
        answer.raise_for_status(
            f"The pull request of {head} into {base} of {owner}/{repo} was not opened: the "
            "token needs `pull-requests: write` (and `contents: write`) on that repository, "
            f"and {base} must exist there."
        )
    data = answer.json()
    link = data.get("html_url") if isinstance(data, dict) else None
    if not isinstance(link, str):
        raise PublishError(f"POST {url} answered {answer.status} without the pull request's URL.")
    return link


def propose(copy: Checkout, env: GitOpsEnv, version: str, commit: str, title: str) -> Proposal:
    """Push ``commit`` to a branch of its own and open its pull request into ``env.branch``."""
    owner, repo = github_repository(env)
    branch = f"releasekit/{env.name}-{version}-{commit[:12]}"
    copy.git("push", "--quiet", "origin", f"{commit}:refs/heads/{branch}", mutates=True)
    body = (
        f"The desired state of `{env.path}`: ironcage {version} (commit {commit[:12]}), "
        "chart and image digests pinned as `desired.json` lists them. Flux applies it "
        f"once this is merged into `{env.branch}`."
    )
    api = os.environ.get("GITHUB_API_URL") or API
    link = open_pull_request(api, owner, repo, env.token(), head=branch, base=env.branch,
                             title=title, body=body)  # fmt: skip
    return Proposal(env.name, commit, version, branch, link)
