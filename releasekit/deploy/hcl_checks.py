"""Static checks on terraform files, without terraform: what ``tf.validate`` runs everywhere.

Variables must be typed and described, providers pinned to a version, and no literal
secret may sit in a ``.tf`` or ``.tfvars`` file. Also answers two questions about a root
module from its text: whether it needs only the built-in provider (so ``terraform
validate`` can run with nothing to download) and which local modules it uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BUILTIN_PROVIDER", "Finding", "builtin_only", "local_modules", "static_findings"]

BUILTIN_PROVIDER = "terraform.io/builtin/terraform"
_SECRET = re.compile(
    r"""^\s*"?(?P<key>[A-Za-z0-9_]*(?:password|passwd|secret|token|api_key|private_key)"""
    r"""[A-Za-z0-9_]*)"?\s*=\s*"(?P<value>[^"$]+)"\s*$""",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    """A static check's complaint about one line of one file."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _strip_comments(text: str) -> str:
    """``text`` with comments blanked (line structure kept); strings left intact."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append("\n" * text.count("\n", i, end))
            i = end
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _blocks(text: str, header: str) -> Iterator[tuple[str, int, str]]:
    """(label, line, body) of each top-level-or-nested block whose header matches ``header``."""
    for match in re.finditer(header, text, re.MULTILINE):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        label = match.groupdict().get("label") or ""
        yield label, text.count("\n", 0, match.start()) + 1, text[match.end() : i - 1]


def _top_level_keys(body: str) -> dict[str, int]:
    """Attribute and block names at depth 0 of ``body`` -> line offset within it."""
    keys: dict[str, int] = {}
    depth = 0
    for offset, line in enumerate(body.splitlines()):
        found = re.match(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(=|\{)", line)
        if depth == 0 and found:
            keys.setdefault(found.group(1), offset)
        depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
    return keys


def static_findings(files: list[Path], base: Path) -> list[Finding]:
    """Static checks: variables typed and described, providers pinned, no literal secrets."""
    findings: list[Finding] = []
    for path in sorted(files):
        shown = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
        raw = path.read_text(encoding="utf-8")
        text = _strip_comments(raw)
        for number, content in enumerate(text.splitlines(), 1):
            secret = _SECRET.match(content)
            if secret:
                findings.append(
                    Finding(
                        shown,
                        number,
                        f"`{secret['key']}` holds a literal string: pass secrets through a "
                        "sensitive variable, a secret store or a generated password "
                        "(manage_master_user_password), never in the code",
                    )
                )
        if path.suffix != ".tf":
            continue
        for name, line, body in _blocks(text, r'^[ \t]*variable\s+"(?P<label>[^"]+)"\s*\{'):
            keys = _top_level_keys(body)
            for needed in ("type", "description"):
                if needed not in keys:
                    findings.append(
                        Finding(shown, line, f'variable "{name}" has no `{needed}`: add one')
                    )
        for _, line, body in _blocks(text, r"^[ \t]*required_providers\s*\{"):
            for name, offset, entry in _blocks(body, r"^[ \t]*(?P<label>[A-Za-z0-9_-]+)\s*=\s*\{"):
                source = re.search(r'source\s*=\s*"([^"]+)"', entry)
                if source and source.group(1) == BUILTIN_PROVIDER:
                    continue
                if not re.search(r"^\s*version\s*=", entry, re.MULTILINE):
                    findings.append(
                        Finding(
                            shown,
                            line + offset - 1,
                            f"provider `{name}` has no version constraint: add "
                            'version = "~> X.Y" to required_providers',
                        )
                    )
    return sorted(findings, key=lambda f: (f.file, f.line))


def builtin_only(module: Path) -> bool:
    """True when every provider the root module requires is the built-in one (no download)."""
    text = "\n".join(_strip_comments(p.read_text(encoding="utf-8")) for p in module.glob("*.tf"))
    if re.search(r'^\s*module\s+"', text, re.MULTILINE):
        return False
    sources = re.findall(r'source\s*=\s*"([^"]+)"', text)
    resources = re.findall(r'^\s*(?:resource|data)\s+"([a-z0-9]+)_', text, re.MULTILINE)
    return all(s == BUILTIN_PROVIDER for s in sources) and all(r == "terraform" for r in resources)


def local_modules(module: Path) -> list[Path]:
    """Folders of the local modules ``module`` calls and, in turn, those they call; sorted."""
    found: set[Path] = set()
    pending = [module]
    while pending:
        folder = pending.pop()
        for tf in sorted(folder.glob("*.tf")):
            text = _strip_comments(tf.read_text(encoding="utf-8"))
            for source in re.findall(r'source\s*=\s*"(\.\.?/[^"]+)"', text):
                called = (folder / source).resolve()
                if called not in found:
                    found.add(called)
                    pending.append(called)
    return sorted(found)
