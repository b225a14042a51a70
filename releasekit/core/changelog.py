"""Conventional commits since the last release tag -> the bump level and Markdown notes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from releasekit.core.run import run
from releasekit.core.workspace import Workspace

__all__ = ["Commit", "Notes", "collect", "level", "parse_commit", "render", "since_ref"]

_HEADER = re.compile(r"^(?P<type>[a-zA-Z]+)(?:\((?P<scope>[^)]*)\))?(?P<bang>!)?:\s*(?P<desc>.+)$")
_BREAKING = re.compile(r"^BREAKING[ -]CHANGE:\s*(?P<text>.+)", re.MULTILINE)
_SECTIONS = (
    ("breaking", "Breaking changes"),
    ("feat", "Features"),
    ("fix", "Bug fixes"),
    ("perf", "Performance"),
    ("other", "Other changes"),
    ("follows", "Released with"),
)
_RANK = {"major": 3, "minor": 2, "patch": 1}
_SEP_FIELD, _SEP_COMMIT = "\x1f", "\x1e"


@dataclass(frozen=True)
class Commit:
    """One commit, parsed; ``type`` is None for a non-conventional subject."""

    sha: str
    subject: str
    type: str | None = None
    scope: str | None = None
    description: str = ""
    breaking: str | None = None
    files: tuple[str, ...] = ()

    @property
    def bump(self) -> str | None:
        """The bump this commit asks for: major, minor, patch, or None."""
        if self.breaking is not None:
            return "major"
        if self.type == "feat":
            return "minor"
        if self.type in {"fix", "perf"}:
            return "patch"
        return None


@dataclass
class Notes:
    """Commits since ``since`` grouped by section, then by package."""

    since: str | None
    commits: list[Commit] = field(default_factory=list)


def parse_commit(sha: str, subject: str, body: str = "", files: tuple[str, ...] = ()) -> Commit:
    """Parse a commit message by the Conventional Commits rules."""
    match = _HEADER.match(subject.strip())
    if match is None:
        return Commit(sha, subject.strip(), files=files)
    breaking_note = _BREAKING.search(body)
    breaking = None
    if breaking_note:
        breaking = breaking_note["text"].strip()
    elif match["bang"]:
        breaking = match["desc"].strip()
    return Commit(
        sha=sha,
        subject=subject.strip(),
        type=match["type"].lower(),
        scope=(match["scope"] or None),
        description=match["desc"].strip(),
        breaking=breaking,
        files=files,
    )


def level(commits: list[Commit]) -> str | None:
    """The highest bump the commits ask for (major > minor > patch), or None."""
    bumps = [c.bump for c in commits if c.bump]
    return max(bumps, key=_RANK.__getitem__) if bumps else None


def since_ref(ws: Workspace, package: str | None = None) -> str | None:
    """The last release tag reachable from HEAD (``package``'s own tag under ``independent``)."""
    from releasekit.core import git, policy

    pattern = policy.tag_glob(ws.manifest.tag, package) if package else policy.LOCKSTEP_GLOB
    return git.last_tag(ws.root, pattern)


def collect(root: Path, since: str | None) -> list[Commit]:
    """Commits in ``since..HEAD`` (all history when ``since`` is None), oldest first."""
    fmt = f"--format={_SEP_COMMIT}%H{_SEP_FIELD}%s{_SEP_FIELD}%b{_SEP_FIELD}"
    rev = f"{since}..HEAD" if since else "HEAD"
    out = run(
        ["git", "-C", str(root), "log", "--reverse", "--name-only", fmt, rev],
        mutates=False,
        quiet=True,
    ).stdout
    commits = []
    for chunk in out.split(_SEP_COMMIT)[1:]:
        sha, subject, body, names = chunk.split(_SEP_FIELD, 3)
        files = tuple(n for n in names.splitlines() if n.strip())
        commits.append(parse_commit(sha, subject, body, files))
    return commits


def _packages_of(ws: Workspace, commit: Commit) -> list[str]:
    names = {p.name for p in ws.packages}
    if commit.scope in names:
        return [commit.scope]
    owners = ws.owners(list(commit.files))
    return [n for n in ws.order() if n in owners] or ["repository"]


def render(
    ws: Workspace,
    version: str,
    commits: list[Commit],
    today: date | None = None,
    *,
    only: str | None = None,
    follows: tuple[str, ...] = (),
) -> str:
    """Markdown release notes: sections by change type, packages within each section.

    ``only`` keeps one package's entries (its own CHANGELOG.md under policy independent);
    ``follows`` lists why it releases without commits of its own (``dependent of sandbox``).
    """
    day = (today or date.today()).isoformat()
    lines = [f"## {version} ({day})", ""]
    grouped: dict[str, dict[str, list[str]]] = {}
    for commit in commits:
        if commit.breaking is not None:
            section = "breaking"
            text = commit.breaking
        elif commit.type in {"feat", "fix", "perf"}:
            section, text = commit.type, commit.description
        else:
            section, text = "other", commit.description or commit.subject
        for pkg in _packages_of(ws, commit):
            if only is not None and pkg != only:
                continue
            grouped.setdefault(section, {}).setdefault(pkg, []).append(f"{text} ({commit.sha[:7]})")
    if follows:
        grouped.setdefault("follows", {})[only or "repository"] = list(follows)
    if not grouped:
        lines += ["No changes since the last release.", ""]
    for key, title in _SECTIONS:
        if key not in grouped:
            continue
        lines += [f"### {title}", ""]
        for pkg, entries in sorted(grouped[key].items()):
            lines.append(f"- **{pkg}**")
            lines += [f"  - {entry}" for entry in entries]
        lines.append("")
    return "\n".join(lines)
