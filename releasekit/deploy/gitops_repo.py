"""The toolkit's working copy of a GitOps repository: fetch, commit one folder, push.

The copy lives in ``build/gitops/<repository>`` and is reset to the remote branch before
every change, so a commit always starts from what the remote holds. A push the remote
rejects because someone else committed meanwhile is fetched again: when their commits touch
other folders only, ours is rebased onto them and pushed; when one touches the same folder,
the push is refused, naming that commit. An https repository is pushed to with the
environment's token (``git.token_auth_env``), never written into a file.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from releasekit.core.errors import PublishError, ToolError
from releasekit.core.git import token_auth_env
from releasekit.core.run import run

__all__ = ["Checkout", "checkout"]

_IDENTITY = ("-c", "user.name=releasekit", "-c", "user.email=releasekit@localhost")
_ATTEMPTS = 3


@dataclass(frozen=True)
class Checkout:
    """A working copy of ``url`` at ``branch`` (in ``path``), with the secrets git pushes with."""

    path: Path
    url: str
    branch: str
    secrets: tuple[tuple[str, str], ...] = ()

    def git(self, *args: str, check: bool = True, mutates: bool = False) -> str:
        argv = ["git", "-C", str(self.path), *_IDENTITY, *args]
        result = run(argv, check=check, mutates=mutates, quiet=True, secrets=dict(self.secrets))
        return result.stdout.strip() if result.returncode == 0 else ""

    def remote_head(self) -> str:
        """The commit of the remote branch as last fetched ("" for an empty repository)."""
        return self.git("rev-parse", "--verify", "--quiet", f"origin/{self.branch}", check=False)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def fetch(self) -> None:
        self.git("fetch", "--quiet", "--prune", "origin")

    def reset(self) -> None:
        """Fetch, then make the work tree exactly the remote branch."""
        self.fetch()
        theirs = self.remote_head()
        if theirs:
            self.git("checkout", "--quiet", "-B", self.branch, theirs, mutates=True)
            self.git("reset", "--quiet", "--hard", theirs, mutates=True)
        else:
            self.git("checkout", "--quiet", "--orphan", self.branch, check=False, mutates=True)
        self.git("clean", "--quiet", "-fdx", mutates=True)

    def show(self, ref: str, path: str) -> str | None:
        """The text of ``path`` at ``ref``; None when it is not there."""
        result = run(["git", "-C", str(self.path), "show", f"{ref}:{path}"],
                     check=False, mutates=False, quiet=True)  # fmt: skip
        return result.stdout if result.returncode == 0 else None

    def same(self, a: str, b: str, path: str) -> bool:
        """True when ``path`` is the same at commits ``a`` and ``b``."""
        argv = ["git", "-C", str(self.path), "diff", "--quiet", a, b, "--", path]
        return run(argv, check=False, mutates=False, quiet=True).returncode == 0

    def log(self, path: str, ref: str = "HEAD") -> list[tuple[str, str]]:
        """(commit, subject) of every commit that changed ``path``, newest first."""
        if not self.git("rev-parse", "--verify", "--quiet", ref, check=False):
            return []
        out = self.git("log", "--format=%H %s", ref, "--", path)
        return [(line[:40], line[41:]) for line in out.splitlines() if line]

    def write(self, folder: str, files: dict[str, str], message: str) -> str | None:
        """Replace ``folder`` with ``files`` and commit it; the commit, or None if unchanged."""
        target = self.path / folder
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name, text in files.items():
            (target / name).write_text(text, encoding="utf-8")
        self.git("add", "--all", "--", folder, mutates=True)
        if not self.git("status", "--porcelain", "--", folder):
            return None
        self.git("commit", "--quiet", "-m", message, "--", folder, mutates=True)
        return self.head()

    def restore(self, folder: str, ref: str, message: str) -> str | None:
        """Make ``folder`` what it was at ``ref`` and commit it; None when already so."""
        if (self.path / folder).exists():
            self.git("rm", "--quiet", "-r", "--", folder, mutates=True)
        self.git("checkout", ref, "--", folder, mutates=True)
        if not self.git("status", "--porcelain", "--", folder):
            return None
        self.git("commit", "--quiet", "-m", message, mutates=True)
        return self.head()

    def push(self, folder: str) -> str:
        """Push HEAD to the branch; rebase over others' commits to other folders; the commit."""
        for _ in range(_ATTEMPTS):
            try:
                self.git("push", "--quiet", "origin", f"HEAD:refs/heads/{self.branch}",
                         mutates=True)  # fmt: skip
                return self.head()
            except ToolError as exc:
                if "rejected" not in exc.stderr_tail and "fetch first" not in exc.stderr_tail:
                    raise
            self.fetch()
            theirs = self.remote_head()
            ours = self.head()
            base = self.git("merge-base", ours, theirs, check=False)
            span = f"{base}..{theirs}" if base else theirs
            touching = self.git("log", "--format=%h %an: %s", span, "--", folder)
            if touching:
                raise PublishError(
                    f"The push to {self.url} ({self.branch}) was rejected: someone else "
                    f"committed to {folder} meanwhile ({touching.splitlines()[0]}). Nothing of "
                    "ours was pushed; look at that commit, then run again to deploy over it."
                )
            self.git("rebase", "--quiet", theirs, mutates=True)
        raise PublishError(
            f"The push to {self.url} ({self.branch}) was rejected {_ATTEMPTS} times while "
            "others kept committing; run again."
        )


def checkout(root: Path, url: str, branch: str, token: str = "") -> Checkout:
    """The working copy of ``url`` under ``root``/build/gitops, fetched and reset to ``branch``."""
    slug = hashlib.sha256(url.encode()).hexdigest()[:12]
    path = root / "build" / "gitops" / slug
    secrets = tuple(token_auth_env(root, url, token).items()) if token else ()
    copy = Checkout(path, url, branch, secrets)
    if not (path / ".git").is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        run(["git", "clone", "--quiet", "--no-checkout", url, str(path)],
            secrets=dict(secrets), quiet=True)  # fmt: skip
    else:
        copy.git("remote", "set-url", "origin", url, mutates=True)
    copy.reset()
    return copy
