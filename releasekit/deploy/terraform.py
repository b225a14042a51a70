"""Terraform: fmt, validate, plan to a saved file, apply exactly that plan, outputs, drift.

Root modules are the folders of ``terraform/environments/``. A plan is saved to
``build/terraform/<env>.tfplan`` with a fingerprint beside it (``<env>.plan.json``: sha256
of the root module's files, the local modules it uses, its variable files and the state
serial); apply refuses a missing plan or one whose fingerprint no longer matches. Root
modules whose providers must be downloaded get the static checks of ``releasekit.deploy.hcl_checks``
instead of ``terraform validate`` when no provider can be installed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasekit.core.doctor import TOOLS
from releasekit.core.errors import ManifestError, PreflightError, ToolError
from releasekit.core.files import write_json
from releasekit.core.run import Result, cloud_credentials, looks_secret, require_tool, run
from releasekit.deploy.hcl_checks import Finding, builtin_only, local_modules, static_findings
from releasekit.deploy.helm import image_pins

__all__ = [
    "Drift",
    "Plan",
    "Validation",
    "apply",
    "apply_argv",
    "drift",
    "drift_argv",
    "environments",
    "fingerprint",
    "fmt",
    "fmt_argv",
    "images_var_file",
    "init",
    "init_argv",
    "module_dir",
    "output",
    "output_argv",
    "plan",
    "plan_argv",
    "plan_paths",
    "validate",
    "validate_argv",
]

ENVIRONMENTS_DIR = Path("terraform") / "environments"
PLANS_DIR = Path("build") / "terraform"
_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


@dataclass(frozen=True)
class Validation:
    """What ``validate`` did: modules terraform validated, modules checked statically, findings."""

    validated: tuple[str, ...]
    static_only: tuple[str, ...]
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Plan:
    """A saved plan and the fingerprint of what it was made from."""

    env: str
    path: Path
    fingerprint: str
    changes: bool
    text: str = ""


@dataclass(frozen=True)
class Drift:
    """``plan -detailed-exitcode`` in words: exit code 0 is in sync, 2 is drifted."""

    in_sync: bool
    add: int = 0
    change: int = 0
    destroy: int = 0

    def __str__(self) -> str:
        if self.in_sync:
            return "in sync: the infrastructure matches the configuration"
        counts = f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"
        if not (self.add or self.change or self.destroy):
            counts += " (only outputs differ)"
        return f"drifted: {counts}"


def _require_terraform() -> None:
    require_tool("terraform", next(t.install for t in TOOLS if t.name == "terraform"))


def _tf(argv: list[str], cwd: Path, **kwargs: Any) -> Result:
    """One terraform call. Beside the base environment it gets its own ``TF_*`` variables
    (secret-looking ones, such as ``TF_TOKEN_*``, as secrets) and the cloud credentials,
    never the release's upload or signing secrets."""
    _require_terraform()
    own = {k: v for k, v in os.environ.items() if k.startswith("TF_")}
    settings = {k: v for k, v in own.items() if not looks_secret(k)}
    secrets = {**{k: v for k, v in own.items() if looks_secret(k)}, **cloud_credentials()}
    return run(argv, cwd=cwd, env={**settings, **_ENV}, secrets=secrets, **kwargs)


def environments(root: Path) -> list[str]:
    """The root modules under terraform/environments, sorted."""
    return sorted(p.name for p in (root / ENVIRONMENTS_DIR).iterdir() if any(p.glob("*.tf")))


def module_dir(root: Path, env: str) -> Path:
    """terraform/environments/<env> (relative); ManifestError listing the known ones else."""
    known = environments(root)
    if env not in known:
        raise ManifestError(
            f"Unknown environment `{env}`: {root / ENVIRONMENTS_DIR} holds {', '.join(known)}. "
            "Pass one of those to --env."
        )
    return ENVIRONMENTS_DIR / env


def plan_paths(env: str) -> tuple[Path, Path]:
    """(saved plan, its fingerprint record), relative to the repository root."""
    return PLANS_DIR / f"{env}.tfplan", PLANS_DIR / f"{env}.plan.json"


# -- argv builders ---------------------------------------------------------------------------


def _chdir(module: Path) -> list[str]:
    return ["terraform", f"-chdir={module}"]


def fmt_argv(path: Path, fix: bool = False) -> list[str]:
    check = [] if fix else ["-check"]
    return ["terraform", "fmt", "-recursive", "-no-color", *check, str(path)]


def init_argv(module: Path, backend: bool = True) -> list[str]:
    argv = [*_chdir(module), "init", "-input=false", "-no-color"]
    return argv if backend else [*argv, "-backend=false"]


def validate_argv(module: Path) -> list[str]:
    return [*_chdir(module), "validate", "-no-color"]


def plan_argv(module: Path, out: Path, var_files: tuple[Path, ...] = ()) -> list[str]:
    extra = [f"-var-file={f}" for f in var_files]
    return [*_chdir(module), "plan", "-input=false", "-no-color", *extra, f"-out={out}"]


def apply_argv(module: Path, saved: Path) -> list[str]:
    return [*_chdir(module), "apply", "-input=false", "-no-color", str(saved)]


def output_argv(module: Path) -> list[str]:
    return [*_chdir(module), "output", "-json", "-no-color"]


def drift_argv(module: Path, var_files: tuple[Path, ...] = ()) -> list[str]:
    extra = [f"-var-file={f}" for f in var_files]
    return [*_chdir(module), "plan", "-detailed-exitcode", "-input=false", "-json", *extra]


# -- commands --------------------------------------------------------------------------------


def fmt(root: Path, fix: bool = False) -> list[str]:
    """Files under terraform/ that are not canonically formatted (rewritten when ``fix``)."""
    result = _tf(fmt_argv(Path("terraform"), fix), root, check=False, mutates=fix, quiet=not fix)
    if result.returncode not in (0, 3):
        raise ToolError(result.argv, result.returncode, result.stderr)
    return [line for line in result.stdout.splitlines() if line.endswith((".tf", ".tfvars"))]


def validate(root: Path) -> Validation:
    """terraform validate where nothing must be downloaded; static checks everywhere."""
    validated, static_only = [], []
    for env in environments(root):
        module = ENVIRONMENTS_DIR / env
        if builtin_only(root / module):
            _tf(init_argv(module, backend=False), root, mutates=False, quiet=True)
            _tf(validate_argv(module), root, mutates=False)
            validated.append(env)
        else:
            static_only.append(env)
    files = [*root.glob("terraform/**/*.tf"), *root.glob("terraform/**/*.tfvars")]
    files = [f for f in files if ".terraform" not in f.parts]
    return Validation(tuple(validated), tuple(static_only), tuple(static_findings(files, root)))


def _state_serial(module: Path, cwd: Path) -> str:
    result = _tf([*_chdir(module), "state", "pull"], cwd, mutates=False, quiet=True)
    if not result.stdout.strip():
        return "none"
    state = json.loads(result.stdout)
    return f"{state.get('lineage', '')}:{state.get('serial', '')}"


def fingerprint(module: Path, cwd: Path, var_files: tuple[Path, ...] = ()) -> str:
    """sha256 over the root module's files, its local modules, variable files, state serial."""
    digest = hashlib.sha256()
    folder = cwd / module
    files = [p for p in folder.iterdir() if p.suffix in (".tf", ".tfvars", ".hcl")]
    for extra in local_modules(folder):
        files += [p for p in extra.glob("*.tf")]
    files += [cwd / f for f in var_files]
    for path in sorted(set(files)):
        digest.update(f"{path.name}\0".encode() + path.read_bytes() + b"\0")
    digest.update(f"state={_state_serial(module, cwd)}".encode())
    return digest.hexdigest()


def images_var_file(cwd: Path, env: str, images_json: Path) -> Path:
    """Write ``image_digests`` from an images.json into build/terraform/<env>.images.tfvars.json."""
    if not (cwd / images_json).is_file():
        raise PreflightError(
            f"{images_json} does not exist: push the images first (`invoke docker.push` "
            "writes it), or leave --images out."
        )
    digests = {name: pin[1] for name, pin in sorted(image_pins(cwd / images_json).items())}
    path = PLANS_DIR / f"{env}.images.tfvars.json"
    write_json(cwd / path, {"image_digests": digests}, mode=0o644)
    return path


def _init(module: Path, cwd: Path, env: str) -> None:
    try:
        _tf(init_argv(module), cwd, mutates=False)
    except ToolError as exc:
        raise ToolError(
            exc.argv,
            exc.returncode,
            exc.stderr_tail,
            f"`terraform init` of {module} failed: environment `{env}` needs what the output "
            "above names (providers from the Terraform registry, backend credentials). "
            "Provide them and run `invoke tf.plan` again.",
        ) from None


def init(module: Path, cwd: Path, env: str) -> None:
    """``terraform init`` of ``module`` with its backend (idempotent)."""
    _init(module, cwd, env)


def plan(module: Path, env: str, cwd: Path, saved: Path, var_files: tuple[Path, ...] = ()) -> Plan:
    """init, then ``plan -out`` to ``saved``, recording the fingerprint beside it."""
    _init(module, cwd, env)
    (cwd / saved).parent.mkdir(parents=True, exist_ok=True)
    absolute = tuple((cwd / f).resolve() for f in var_files)
    result = _tf(plan_argv(module, (cwd / saved).resolve(), absolute), cwd, mutates=False)
    changes = "No changes." not in result.stdout
    record = Plan(env, saved, fingerprint(module, cwd, var_files), changes, result.stdout)
    _record(cwd / saved, record, var_files)
    return record


def _record_path(saved: Path) -> Path:
    return saved.with_name(saved.name.removesuffix(".tfplan") + ".plan.json")


def _record(saved: Path, record: Plan, var_files: tuple[Path, ...]) -> None:
    data = {
        "env": record.env,
        "plan": saved.name,
        "fingerprint": record.fingerprint,
        "changes": record.changes,
        "var_files": [str(f) for f in var_files],
    }
    write_json(_record_path(saved), data, mode=0o644)


def apply(module: Path, env: str, cwd: Path, saved: Path) -> str:
    """Apply exactly the saved plan; refuses a missing or stale one. terraform's output."""
    fresh = f"invoke tf.plan --env {env}"
    plan_file, record_file = cwd / saved, _record_path(cwd / saved)
    if not plan_file.is_file() or not record_file.is_file():
        raise PreflightError(
            f"No saved plan for `{env}` at {saved}: apply runs only a reviewed plan. "
            f"Make one with `{fresh}`."
        )
    # A fresh machine (the apply job of a deploy) has the saved plan but no initialised
    # backend and providers: init first, as the plan did, so the state can be read.
    _init(module, cwd, env)
    recorded = json.loads(record_file.read_text(encoding="utf-8"))
    var_files = tuple(Path(f) for f in recorded.get("var_files", []))
    now = fingerprint(module, cwd, var_files)
    if recorded.get("fingerprint") != now:
        raise PreflightError(
            f"The saved plan {saved} is stale: the configuration, variables or state of "
            f"{module} changed since it was made. Make a fresh one with `{fresh}`."
        )
    result = _tf(apply_argv(module, plan_file.resolve()), cwd, check=False)
    if result.returncode != 0:
        if "Saved plan is stale" in result.stdout + result.stderr:
            raise PreflightError(
                f"terraform says the saved plan {saved} is stale (the state changed since it "
                f"was made). Make a fresh one with `{fresh}`."
            )
        raise ToolError(result.argv, result.returncode, result.stderr or result.stdout)
    plan_file.unlink()
    record_file.unlink()
    return result.stdout


def output(module: Path, cwd: Path) -> dict[str, Any]:
    """``terraform output -json``: output name -> its value."""
    result = _tf(output_argv(module), cwd, mutates=False, quiet=True)
    raw: dict[str, Any] = json.loads(result.stdout or "{}")
    return {name: entry.get("value") for name, entry in raw.items()}


def drift(module: Path, env: str, cwd: Path, var_files: tuple[Path, ...] = ()) -> Drift:
    """``plan -detailed-exitcode``: 0 in sync, 2 drifted (counted), anything else an error."""
    _init(module, cwd, env)
    absolute = tuple((cwd / f).resolve() for f in var_files)
    result = _tf(drift_argv(module, absolute), cwd, check=False, mutates=False)
    if result.returncode not in (0, 2):
        messages = [
            json.loads(line).get("@message", "")
            for line in result.stdout.splitlines()
            if line.startswith("{") and '"@level":"error"' in line
        ]
        raise ToolError(result.argv, result.returncode, "\n".join(messages) or result.stderr)
    for line in result.stdout.splitlines():
        if '"type":"change_summary"' in line:
            changes = json.loads(line)["changes"]
            counts = (changes["add"], changes["change"], changes["remove"])
            return Drift(result.returncode == 0, *counts)
    return Drift(result.returncode == 0)
