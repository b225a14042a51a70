"""What an independent release releases: each package on its own version and tag.

Under policy ``independent`` (release.toml) the plan is per package:

1. each package's commits are those since its own last release tag (``[release].tag``,
   default ``<package>-v<version>``) that is on the target's git remote; a package never
   released under its own tag starts from the last lockstep ``v*`` tag (a monorepo switched
   from lockstep), or from the first commit. A local tag the remote lacks was never
   published: it is passed over, so it never blocks a release;
2. a commit belongs to the package its scope names (``fix(marketing-site): ...``), else to
   the packages owning the files it touches (each package's folder and its ``paths``);
   files no package owns (the root lockfile, CI, the toolkit) belong to none;
3. each changed package gets the bump its conventional commits ask for; ``--package``
   keeps only the named ones, ``--part``/``--to`` replace the commits' bump;
4. every package that depends on a released one gets at least a patch bump (its pin is
   rewritten with the version sites), and every package of a ``[[release.groups]]`` entry
   releases when one of them does, all at one version; repeated until nothing changes, in
   dependency order.

Nothing here changes the repository or a destination.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from releasekit.core import changelog, git, policy, version
from releasekit.core.errors import PreflightError, ReleaseError, ToolError, VersionError
from releasekit.core.workspace import Workspace

__all__ = [
    "NothingToRelease",
    "PackageRelease",
    "ReleasePlan",
    "check_lockstep_history",
    "commit_packages",
    "last_package_release",
    "package_notes",
    "plan",
    "release_message",
    "root_notes",
]

_RANK = {"patch": 1, "minor": 2, "major": 3}


class NothingToRelease(ReleaseError):
    """No package changed in a way that calls for a release: not a failure."""

    exit_code = 0


@dataclass(frozen=True)
class PackageRelease:
    """One package's part of an independent release."""

    package: str
    old: str
    new: str
    tag: str
    since: str | None
    """The tag its commits are counted from (its own, or the last lockstep tag)."""
    level: str
    reasons: tuple[str, ...]
    commits: tuple[str, ...] = ()
    """The commits (sha) that touch the package since ``since``: its changelog section."""

    def to_json(self) -> dict[str, object]:
        return {
            "package": self.package,
            "old": self.old,
            "new": self.new,
            "tag": self.tag,
            "since": self.since,
            "level": self.level,
            "reasons": list(self.reasons),
            "commits": list(self.commits),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> PackageRelease:
        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key) or []
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        since = data.get("since")
        return cls(
            package=str(data["package"]),
            old=str(data["old"]),
            new=str(data["new"]),
            tag=str(data["tag"]),
            since=None if since is None else str(since),
            level=str(data["level"]),
            reasons=strings("reasons"),
            commits=strings("commits"),
        )


@dataclass(frozen=True)
class ReleasePlan:
    """The packages an independent release releases, in dependency order, and the others."""

    releases: tuple[PackageRelease, ...]
    kept: dict[str, str] = field(default_factory=dict)
    """Every package not released, with the version it stays at."""

    @classmethod
    def from_context(cls, entries: Iterable[dict[str, object]]) -> ReleasePlan:
        """The plan a release recorded (``Context.plan``): its released packages."""
        return cls(tuple(PackageRelease.from_json(e) for e in entries))

    @property
    def versions(self) -> dict[str, str]:
        """Each released package's new version."""
        return {r.package: r.new for r in self.releases}

    @property
    def release_id(self) -> str:
        """Names the packages and their versions: ``sandbox-1.3.0+cli-1.2.1``."""
        return "+".join(f"{r.package}-{r.new}" for r in self.releases)

    @property
    def tags(self) -> list[str]:
        return [r.tag for r in self.releases]

    def bumps(self) -> list[version.Bump]:
        """The version changes, for ``version.apply`` (pins follow their packages)."""
        return [version.Bump(r.package, r.old, r.new) for r in self.releases]

    def lines(self) -> list[str]:
        """The plan in words: one line per package, with the reason for each bump."""
        out = [
            f"{r.package} {r.old} -> {r.new} ({r.level}; tag {r.tag}): {'; '.join(r.reasons)}"
            for r in self.releases
        ]
        out += [f"{name} {kept} unchanged (nothing to release)" for name, kept in self.kept.items()]
        return out


def commit_packages(ws: Workspace, commit: changelog.Commit) -> list[str]:
    """The packages a commit belongs to: its scope when that names one, else its files' owners."""
    names = {p.name for p in ws.packages}
    if commit.scope in names:
        return [commit.scope]
    owners = ws.owners(list(commit.files))
    return [n for n in ws.order() if n in owners]


def _unpublished(ws: Workspace, remote: str | None, glob: str) -> tuple[str, ...]:
    if not remote:
        return ()
    try:
        return git.local_only_tags(ws.root, remote, glob)
    except ToolError as exc:
        first = (exc.stderr_tail.strip().splitlines() or ["no output"])[0]
        raise PreflightError(
            f"The git remote `{remote}` does not answer ({first}), so the last release of each "
            "package (a tag on the remote) cannot be read. Check the remote and its "
            "credentials, or `git_remote` of the target in release.toml."
        ) from None


def last_package_release(
    ws: Workspace, package: str, remote: str | None, ref: str = "HEAD"
) -> tuple[str | None, str | None]:
    """(the tag ``package``'s changes count from, the version it released) from ``ref``.

    Its own newest published tag; else the last published lockstep ``v*`` tag; else none.
    """
    glob = policy.tag_glob(ws.manifest.tag, package)
    own = git.last_tag(ws.root, glob, ref, exclude=_unpublished(ws, remote, glob))
    if own is not None:
        return own, policy.version_of_tag(ws.manifest.tag, package, own)
    lock = policy.LOCKSTEP_GLOB
    shared = git.last_tag(ws.root, lock, ref, exclude=_unpublished(ws, remote, lock))
    return shared, None if shared is None else shared.removeprefix("v")


def _next(old: str, level: str) -> str:
    if version.parse(old).prerelease:
        return version.bump_version(old, "prerelease", None)
    return version.bump_version(old, level, None)


def _describe(commits: list[changelog.Commit]) -> str:
    shown = [f"{c.subject} ({c.sha[:7]})" for c in commits if c.bump][:3]
    more = sum(1 for c in commits if c.bump) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def plan(
    ws: Workspace,
    remote: str | None,
    *,
    packages: Iterable[str] = (),
    part: str | None = None,
    to: str | None = None,
    pre_token: str = "rc",
) -> ReleasePlan:
    """The per-package plan of an independent release from HEAD (see the module's rules)."""
    named = list(dict.fromkeys(packages))
    for name in named:
        ws.get(name)
    if to is not None and len(named) != 1:
        raise VersionError(
            f"--to {to} sets one package's version: name it with --package NAME (policy "
            f"`independent` in {ws.manifest.path} versions each package on its own)."
        )
    current = version.check(ws)
    since: dict[str, str | None] = {}
    released: dict[str, str | None] = {}
    touched: dict[str, list[changelog.Commit]] = {}
    for pkg in ws.order():
        since[pkg], released[pkg] = last_package_release(ws, pkg, remote)
        touched[pkg] = [
            c for c in changelog.collect(ws.root, since[pkg]) if pkg in commit_packages(ws, c)
        ]
    level: dict[str, str] = {}
    reasons: dict[str, list[str]] = {n: [] for n in ws.order()}
    exact: dict[str, str] = {}
    for pkg in named or ws.order():
        if to is not None:
            exact[pkg], level[pkg] = to, "exact"
            reasons[pkg].append(f"--to {to}")
        elif part is not None:
            level[pkg] = part
            reasons[pkg].append(f"--part {part}")
        else:
            asked = changelog.level(touched[pkg])
            if asked is not None:
                level[pkg] = asked
                reasons[pkg].append(_describe(touched[pkg]))
    _follow(ws, level, reasons)
    new: dict[str, str] = {}
    for pkg in level:
        if pkg in exact:
            new[pkg] = version.bump_version(current[pkg], None, exact[pkg])
        elif level[pkg] in {"prerelease", "release"}:
            new[pkg] = version.bump_version(current[pkg], level[pkg], None, pre_token)
        else:
            new[pkg] = _next(current[pkg], level[pkg])
    for group in ws.manifest.groups:
        members = [m for m in group.packages if m in new]
        if members:
            top = max((new[m] for m in members), key=version.parse)
            for member in members:
                new[member] = top
    releases = []
    for pkg in ws.order():
        if pkg not in level:
            continue
        last = released[pkg]
        if last is not None and version.parse(new[pkg]) <= version.parse(last, since[pkg] or ""):
            raise VersionError(
                f"Version `{new[pkg]}` of {pkg} is not higher than its last release `{last}` "
                f"(tag {since[pkg]}). Pass a higher --to, or a larger --part, with --package {pkg}."
            )
        releases.append(
            PackageRelease(
                package=pkg,
                old=current[pkg],
                new=new[pkg],
                tag=policy.package_tag(ws.manifest.tag, pkg, new[pkg]),
                since=since[pkg],
                level=level[pkg],
                reasons=tuple(reasons[pkg]),
                commits=tuple(c.sha for c in touched[pkg]),
            )
        )
    kept = {n: current[n] for n in ws.order() if n not in level}
    return ReleasePlan(tuple(releases), kept)


def _follow(ws: Workspace, level: dict[str, str], reasons: dict[str, list[str]]) -> None:
    """Dependents (at least a patch) and group members (the group's highest bump) follow."""
    group_of = {m: g for g in ws.manifest.groups for m in g.packages}
    changed = True
    while changed:
        changed = False
        for pkg in ws.order():
            why = [f"dependent of {dep}" for dep in ws.get(pkg).deps if dep in level]
            group = group_of.get(pkg)
            moving = [m for m in group.packages if m in level and m != pkg] if group else []
            if group is not None and moving:
                why.append(f"group {group.name} with {', '.join(moving)}")
            for reason in why:
                if reason not in reasons[pkg]:
                    reasons[pkg].append(reason)
                    changed = True
            if why and pkg not in level:
                ranked = [level[m] for m in moving if level[m] in _RANK]
                level[pkg] = max(ranked, key=_RANK.__getitem__) if ranked else "patch"
                changed = True


def check_lockstep_history(ws: Workspace, remote: str | None) -> None:
    """Under lockstep, refuse a history whose packages were released on their own since the
    last lockstep tag (a monorepo switched back from independent), with the aligning command.

    Preflight asks when the version sites drift; once one version is written everywhere
    (the aligning command), lockstep releases go on from the last ``v*`` tag.
    """
    if ws.manifest.policy != "lockstep":
        return
    globs = [policy.tag_glob(ws.manifest.tag, pkg) for pkg in ws.order()]
    if not any(git.last_tag(ws.root, glob) for glob in globs):
        return  # never released on their own: nothing of the remote to ask
    lock = policy.LOCKSTEP_GLOB
    shared = git.last_tag(ws.root, lock, exclude=_unpublished(ws, remote, lock))
    newer: list[str] = []
    for glob in globs:
        own = git.last_tag(ws.root, glob, exclude=_unpublished(ws, remote, glob))
        if own is None:
            continue
        if shared is None or not git.is_ancestor(ws.root, own, shared):
            newer.append(own)
    if not newer:
        return
    versions = [version.current(ws)[p] for p in ws.order()]
    versions += [t.removeprefix("v") for t in [shared] if t is not None]
    aligned = version.bump_version(max(versions, key=version.parse), "patch", None)
    raise VersionError(
        f"{ws.manifest.path} sets policy `lockstep`, but packages were released on their own "
        f"since the last lockstep release {shared or '(none)'}: {', '.join(newer)}. One version "
        f"must cover every package first: run `invoke version.bump --to {aligned}`, commit it "
        '(`git commit -am "chore: align versions for lockstep"`), then `invoke release`; or '
        'keep [release].policy = "independent".'
    )


def release_message(planned: ReleasePlan) -> str:
    """The subject of the release commit: every tag it releases."""
    return f"chore(release): {', '.join(planned.tags)}"


def package_notes(ws: Workspace, release: PackageRelease, today: date | None = None) -> str:
    """One package's section of its own CHANGELOG.md: only the commits that touch it."""
    own = set(release.commits)
    commits = [c for c in changelog.collect(ws.root, release.since) if c.sha in own]
    follows = tuple(r for r in release.reasons if r.startswith(("dependent of ", "group ")))
    return changelog.render(ws, release.new, commits, today, only=release.package, follows=follows)


def root_notes(ws: Workspace, planned: ReleasePlan, today: date | None = None) -> str:
    """The release's notes: every package released with its version, then each one's section."""
    day = (today or date.today()).isoformat()
    lines = [f"## {planned.release_id} ({day})", ""]
    lines += [f"- **{r.package}** {r.new} (`{r.tag}`)" for r in planned.releases]
    lines.append("")
    for release in planned.releases:
        body = package_notes(ws, release, today).splitlines()[2:]
        lines += [f"### {release.package} {release.new}", ""]
        lines += [f"#{line}" if line.startswith("### ") else line for line in body]
    return "\n".join(lines).rstrip() + "\n"
