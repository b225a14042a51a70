"""Which nox sessions and test folders a change can affect, and why.

Each changed path is placed by the first rule of ``RULES`` that matches it; what the rules
choose is merged into one plan (a session chosen whole by one path and narrowed by another
runs whole). A path no rule places runs everything, so a plan is never less than needed.
The README's rules table is ``rules_table()``; `nox -s lint` checks the two agree.

Only the standard library is imported at module level, so the table can be rendered where
the engine's dependencies are not installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from releasekit.core.workspace import Workspace

__all__ = [
    "ALWAYS",
    "EVERYTHING",
    "FOLDER_SESSIONS",
    "RULES",
    "Plan",
    "Reason",
    "Rule",
    "changed",
    "default_since",
    "plan",
    "rules_table",
    "run_sessions",
]

ALWAYS = "lint"
"""The session every plan runs: cheap, and it reads every file."""

EVERYTHING = "everything"
"""Stands for every session a plain `nox` runs."""

FOLDER_SESSIONS: dict[str, str] = {
    "act": "workflows-run",
    "cluster": "cluster",
    "docker": "docker",
    "gitops": "gitops",
    "helm": "helm",
    "pilot": "pilot",
    "python": "package",
    "supply_chain": "supply-chain",
    "terraform": "terraform",
    "workflows": "workflows",
}
"""The session that runs each folder of ``tests/integration/``."""

# What a session runs: None is the whole session, a tuple the posargs that narrow it.
Selection = dict[str, tuple[str, ...] | None]


@dataclass(frozen=True)
class Reason:
    """Why ``session`` runs (with ``args``): ``path`` changed and ``rule`` placed it."""

    session: str
    args: tuple[str, ...] | None
    path: str
    why: str


@dataclass(frozen=True)
class Plan:
    """The sessions a change affects (``everything``: all of them) and the reason for each."""

    since: str
    paths: tuple[str, ...]
    sessions: Selection = field(default_factory=dict)
    everything: bool = False
    reasons: tuple[Reason, ...] = ()

    def lines(self) -> list[str]:
        """The plan for people: one line per session, then why."""
        out = [f"changed since {self.since}: {len(self.paths)} path(s)"]
        if self.everything:
            out.append("runs every session of `nox`:")
            shown = [r for r in self.reasons if r.session == EVERYTHING]
        else:
            for name, args in self.sessions.items():
                out.append(f"runs {name}" + (f" -- {' '.join(args)}" if args else " (whole)"))
            shown = list(self.reasons)
        for r in shown:
            what = "" if r.args is None else f" -- {' '.join(r.args)}"
            out.append(f"  {r.session}{what}: {r.path} ({r.why})")
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "since": self.since,
            "paths": list(self.paths),
            "everything": self.everything,
            "sessions": {k: None if v is None else list(v) for k, v in self.sessions.items()},
            "reasons": [
                {"session": r.session, "args": r.args, "path": r.path, "why": r.why}
                for r in self.reasons
            ],
            "lines": self.lines(),
        }


Chooser = Callable[["Workspace", dict[str, str]], "Selection | None"]


@dataclass(frozen=True)
class Rule:
    """Paths matching one of ``patterns`` run what ``choose`` returns (``runs`` says it).

    A pattern is a path with ``*`` (within one folder), ``**`` (any depth) and named parts
    ``<name>`` (one folder or file name); ``choose`` gets the named parts and returns the
    sessions, or None when a name is not one the workspace knows (then everything runs).
    """

    patterns: tuple[str, ...]
    runs: str
    choose: Chooser

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        """The first pattern ``path`` matches and its named parts; None when none does."""
        for pattern in self.patterns:
            found = _compiled(pattern).fullmatch(path)
            if found:
                return pattern, found.groupdict()
        return None


def _compiled(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*/?|\*|<\w+>)", pattern)
    regex = ""
    for part in parts:
        if part in ("**", "**/"):
            regex += ".*"
        elif part == "*":
            regex += "[^/]*"
        elif part.startswith("<") and part.endswith(">"):
            regex += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def _fixed(*sessions: str) -> Chooser:
    return lambda ws, parts: dict.fromkeys(sessions)


def _package(ws: Workspace, parts: dict[str, str]) -> Selection | None:
    """The package's own checks and those of every package that depends on it."""
    owner = next((p for p in ws.packages if p.spec.path == f"packages/{parts['package']}"), None)
    if owner is None:
        return None
    closure = [ws.get(n) for n in ws.closure(owner.name, dependents=True)]
    chosen: Selection = {}
    sources = tuple(f"{p.spec.path}/src" for p in closure if (p.dir / "src").is_dir())
    tests = tuple(f"{p.spec.path}/tests" for p in closure if (p.dir / "tests").is_dir())
    images = tuple(arg for p in closure for i in p.spec.images for arg in ("--image", i))
    if sources:
        chosen["typecheck"] = sources
    if tests:
        chosen["tests"] = tests
    if images:
        chosen["docker"] = images
    return chosen


def _image(ws: Workspace, parts: dict[str, str]) -> Selection | None:
    known = {i for p in ws.packages for i in p.spec.images}
    if parts["image"] not in known:
        return None
    return {"docker": ("--image", parts["image"]), "security": None}


def _folder(ws: Workspace, parts: dict[str, str]) -> Selection | None:
    session = FOLDER_SESSIONS.get(parts["folder"])
    return None if session is None else {session: None}


RULES: tuple[Rule, ...] = (
    Rule(
        (
            "releasekit/**",
            "noxfile.py",
            "pyproject.toml",
            "uv.lock",
            "tasks.py",
            "release.toml",
            "tests/conftest.py",
            "scripts/**",
            ".ci/**",
        ),
        "everything (the engine, the sessions, the dependencies, the manifest)",
        lambda ws, parts: None,
    ),
    Rule(("docs/**", "*.md"), "lint only", _fixed()),
    Rule(
        ("packages/<package>/**",),
        "tests of the package and of its dependents (`packages/*/tests`), typecheck of their "
        "`src`, docker for their images only",
        _package,
    ),
    Rule(("docker/<image>.Dockerfile",), "docker for that image only; security", _image),
    Rule(("docker/compose.yaml",), "pilot", _fixed("pilot")),
    Rule(
        ("docker/**", ".dockerignore"),
        "docker (every image); security",
        _fixed("docker", "security"),
    ),
    Rule(
        ("helm/*/templates/**",),
        "helm, cluster and gitops (deploy templates), security",
        _fixed("helm", "cluster", "gitops", "security"),
    ),
    Rule(("helm/**",), "helm, security", _fixed("helm", "security")),
    Rule(("terraform/**",), "terraform, security", _fixed("terraform", "security")),
    Rule((".checkov.yaml",), "security", _fixed("security")),
    Rule((".github/**",), "workflows", _fixed("workflows")),
    Rule(("tests/unit/**",), "tests (`tests/unit`)", lambda ws, parts: {"tests": ("tests/unit",)}),
    Rule(("tests/integration/<folder>/**",), "the session that runs that folder", _folder),
    Rule(("tests/e2e/**",), "e2e", _fixed("e2e")),
    Rule(("bench/**",), "lint only (`nox -s bench` runs the benchmarks)", _fixed()),
    Rule(("**",), "everything (no rule places it)", lambda ws, parts: None),
)


def _merge(into: Selection, chosen: Selection) -> None:
    for session, args in chosen.items():
        if session in into and (into[session] is None or args is None):
            into[session] = None
        elif session in into:
            old = into[session] or ()
            pairs = _arg_units(old) + [
                u for u in _arg_units(args or ()) if u not in _arg_units(old)
            ]
            into[session] = tuple(a for unit in pairs for a in unit)
        else:
            into[session] = args


def _arg_units(args: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``--image X`` stays one unit, a path is one."""
    units: list[tuple[str, ...]] = []
    items = iter(args)
    for arg in items:
        units.append((arg, next(items)) if arg.startswith("--") else (arg,))
    return units


def plan(ws: Workspace, paths: Iterable[str], since: str = "") -> Plan:
    """The sessions that ``paths`` (repository-relative, ``/``-separated) can affect."""
    paths = tuple(sorted(set(paths)))
    sessions: Selection = {ALWAYS: None}
    reasons: list[Reason] = []
    everything = False
    if not paths:
        reasons.append(Reason(ALWAYS, None, "-", "nothing changed; lint runs on every plan"))
    for path in paths:
        for rule in RULES:
            found = rule.match(path)
            if found is None:
                continue
            pattern, parts = found
            chosen = rule.choose(ws, parts)
            why = f"`{pattern}`: {rule.runs}"
            if chosen is None:
                everything = True
                if parts:
                    why = f"`{pattern}` names {_named(parts)}, which release.toml does not know"
                reasons.append(Reason(EVERYTHING, None, path, why))
            else:
                _merge(sessions, chosen)
                if not chosen:
                    reasons.append(Reason(ALWAYS, None, path, why))
                for session, args in chosen.items():
                    reasons.append(Reason(session, args, path, why))
            break
    return Plan(since, paths, {} if everything else sessions, everything, tuple(reasons))


def _named(parts: dict[str, str]) -> str:
    return ", ".join(f"{key} `{value}`" for key, value in parts.items())


def changed(ws: Workspace, since: str) -> list[str]:
    """Paths committed since ``since`` plus the work tree's changes, untracked included."""
    from releasekit.core import git

    return git.changed_files(ws.root, since)


def default_since(ws: Workspace) -> str:
    """The merge base of HEAD and the release branch (release.toml), as a commit id."""
    from releasekit.core import git

    return git.merge_base(ws.root, ws.manifest.branch)


def rules_table() -> str:
    """The rules as the Markdown table of the README (first matching row wins)."""
    rows = ["| changed path | runs (`lint` always runs) |", "| --- | --- |"]
    for rule in RULES:
        shown = (
            "anything else"
            if rule.patterns == ("**",)
            else ", ".join(f"`{p}`" for p in rule.patterns)
        )
        rows.append(f"| {shown} | {rule.runs} |")
    return "\n".join(rows) + "\n"


def run_sessions(ws: Workspace, since: str) -> None:
    """Run `nox -s affected -- SINCE` in the workspace: the plan's sessions, as nox shows them."""
    from releasekit.core.run import require_tool, run

    nox = require_tool("nox", "Install the toolkit with `scripts/setup.sh` (it provides nox).")
    run([nox, "-s", "affected", "--", since], cwd=ws.root, capture=False, timeout=None)
