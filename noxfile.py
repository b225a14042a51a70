"""nox sessions: every check of the monorepo, as CI runs them (`nox -l` lists them)."""

from __future__ import annotations

import json
from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PYTHON = "3.11"
PACKAGES = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())


def _sync(session: nox.Session, *groups: str, project: bool = True, packages: bool = False) -> None:
    """Install from uv.lock into the session's venv (`uv sync --locked`): a stale lock fails.

    ``project=False`` installs the groups alone (``--only-group``), without the toolkit.
    """
    flag = "--group" if project else "--only-group"
    argv = ["uv", "sync", "--locked", "--no-default-groups"]
    argv += [arg for group in groups for arg in (flag, group)]
    if packages:
        argv.append("--all-packages")
    session.run_install(*argv, env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location})


def _install_toolkit(session: nox.Session, *groups: str) -> None:
    _sync(session, *groups)


def _install_packages(session: nox.Session, *groups: str) -> None:
    """The toolkit and every package of the workspace (editable), with ``groups``."""
    _sync(session, *groups, packages=True)


def _chosen(session: nox.Session, *defaults: str) -> list[str]:
    """Posargs that name paths replace ``defaults``; other posargs are added to them."""
    if any((ROOT / arg).exists() for arg in session.posargs):
        return list(session.posargs)
    return [*defaults, *session.posargs]


# pytest-xdist: one worker per core. Most tests wait on servers, containers or a control
# plane more than they compute. Each test module goes to one worker (`loadfile`) with its
# own session fixtures (a BuildKit state, a registry, a cluster), so no test waits for or
# depends on another module's.
SIDE_BY_SIDE = ("--numprocesses", "auto", "--dist", "loadfile")


def _pytest(session: nox.Session, *paths: str, options: tuple[str, ...] = SIDE_BY_SIDE) -> None:
    argv = [*options, *_chosen(session, *paths)]
    session.run("pytest", *argv, env={"PYTHONDONTWRITEBYTECODE": "1"})


@nox.session(python=PYTHON, tags=["check"])
def lint(session: nox.Session) -> None:
    """A stale uv.lock, ruff, the layer contract, module sizes, the README's rules table."""
    _sync(session, "lint", project=False)
    session.run("uv", "lock", "--check")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")
    session.run("python", "scripts/check_module_size.py")
    session.run("python", "scripts/check_rules_table.py")


@nox.session(python=PYTHON, tags=["check"])
def typecheck(session: nox.Session) -> None:
    """mypy: strict on the engine, plain on every package (`-- packages/NAME/src`: those only)."""
    _install_toolkit(session, "typecheck")
    if not session.posargs:
        session.run("mypy")
    for source in session.posargs or [f"packages/{name}/src" for name in PACKAGES]:
        session.run("mypy", "--ignore-missing-imports", source)


@nox.session(python=PYTHON, tags=["check"])
def tests(session: nox.Session) -> None:
    """Unit tests of the engine and every package's own tests."""
    _install_packages(session, "test")
    _pytest(session, "tests/unit", *(f"packages/{name}/tests" for name in PACKAGES))


@nox.session(python=PYTHON, tags=["tools"])
def package(session: nox.Session) -> None:
    """Build every sdist, wheel, the binary and the site; twine check; smoke tests."""
    _install_toolkit(session, "test")
    _pytest(session, "tests/integration/python")


@nox.session(python=PYTHON, tags=["tools"])
def docker(session: nox.Session) -> None:
    """hadolint every Dockerfile, then build, smoke and push the images (`-- --image NAME`: those)."""  # noqa: E501
    _install_toolkit(session, "test", "docker")
    chosen = [
        b for a, b in zip(session.posargs, session.posargs[1:], strict=False) if a == "--image"
    ]
    dockerfiles = [ROOT / "docker" / f"{name}.Dockerfile" for name in chosen]
    found = dockerfiles or sorted((ROOT / "docker").glob("*.Dockerfile"))
    session.run("hadolint", *(str(p) for p in found))
    _pytest(session, "tests/integration/docker")


@nox.session(python=PYTHON, tags=["tools"])
def pilot(session: nox.Session) -> None:
    """The sandbox's servers and the pilot deployment (docker compose), for real."""
    _install_toolkit(session, "test")
    _pytest(session, "tests/integration/pilot")


@nox.session(python=PYTHON, tags=["tools"])
def workflows(session: nox.Session) -> None:
    """actionlint and zizmor --offline over .github/workflows."""
    _install_toolkit(session, "test", "workflows")
    session.run("actionlint", external=True)
    session.run("zizmor", "--offline", "--no-progress", ".github/workflows")
    _pytest(session, "tests/integration/workflows", options=())  # seconds: no workers


@nox.session(name="workflows-run", python=PYTHON, tags=["workflows"], default=False)
def workflows_run(session: nox.Session) -> None:
    """Not run by default: ci's lint/typecheck/tests job and the release dry run, run locally by act."""  # noqa: E501
    _install_toolkit(session, "test")
    _pytest(session, "tests/integration/act")


@nox.session(python=PYTHON, tags=["tools"])
def helm(session: nox.Session) -> None:
    """Lint, render and schema-validate every chart for every environment; package and push to a local registry."""  # noqa: E501
    _install_toolkit(session, "test")
    _pytest(session, "tests/integration/helm", options=())  # seconds: no workers


@nox.session(python=PYTHON, tags=["tools"])
def cluster(session: nox.Session) -> None:
    """Helm 4 against a real local control plane (etcd, API server, controllers, kwok): deploy, fail, roll back."""  # noqa: E501
    _install_toolkit(session, "test")
    _pytest(session, "tests/integration/cluster")


@nox.session(python=PYTHON, tags=["tools"])
def gitops(session: nox.Session) -> None:
    """Flux's controllers against the local control plane: release, promote, roll back and drift by commit."""  # noqa: E501
    _install_toolkit(session, "test")
    # Each module has its own control plane with Flux; the tests mostly wait for it.
    _pytest(session, "tests/integration/gitops")


@nox.session(python=PYTHON, tags=["tools"])
def terraform(session: nox.Session) -> None:
    """terraform fmt, validate, plan and apply the local environment; static checks on the cloud environments."""  # noqa: E501
    _install_toolkit(session, "test")
    _pytest(session, "tests/integration/terraform", options=())  # seconds: no workers


@nox.session(name="supply-chain", python=PYTHON, tags=["tools"])
def supply_chain(session: nox.Session) -> None:
    """cosign signatures, SBOM attestations and SLSA provenance; `invoke verify` catches tampering."""  # noqa: E501
    _install_toolkit(session, "test")
    _pytest(session, "tests/integration/supply_chain")


# The Kubernetes version the charts are rendered for (releasekit.publish.charts.KUBERNETES_VERSION).
KUBERNETES_VERSION = "1.31.0"


@nox.session(python=PYTHON, tags=["tools"])
def security(session: nox.Session) -> None:
    """checkov over rendered manifests, Dockerfiles and terraform, against the baseline."""
    _sync(session, "security", project=False)
    rendered = ROOT / "build" / "rendered"
    rendered.mkdir(parents=True, exist_ok=True)
    for values in sorted((ROOT / "helm").glob("*/values-*.yaml")):
        chart, env = values.parent, values.stem.removeprefix("values-")
        with (rendered / f"{chart.name}-{env}.yaml").open("w", encoding="utf-8") as out:
            session.run(
                "helm", "template", chart.name, str(chart), "-f", str(values),
                "--namespace", f"ironcage-{env}", "--kube-version", KUBERNETES_VERSION,
                external=True, stdout=out, stderr=None,
            )  # fmt: skip
    session.run(
        "checkov", "--config-file", ".checkov.yaml",
        "-d", str(rendered.relative_to(ROOT)), "-d", "docker", "-d", "terraform",
    )  # fmt: skip


@nox.session(python=PYTHON, tags=["e2e"])
def e2e(session: nox.Session) -> None:
    """The whole `invoke release` into sandboxes; install, pull, browse, release, roll back."""
    _install_toolkit(session, "test", "e2e")
    # Each module has a sandbox of its own.
    _pytest(session, "tests/e2e")


@nox.session(python=PYTHON, tags=["bench"], default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks side by side, as ratios: Python artifacts vs uv build, --jobs, no-op, one change, image sizes."""  # noqa: E501
    _install_toolkit(session)
    session.run("python", "bench/compare.py", *session.posargs)


@nox.session(python=PYTHON, tags=["affected"], default=False)
def affected(session: nox.Session) -> None:
    """Not run by default: only the sessions a change since REF affects (`-- REF`; `invoke check`)."""  # noqa: E501
    _install_toolkit(session)
    since = ["--since", session.posargs[0]] if session.posargs else []
    out = session.run("invoke", "check", "--plan", "--json", *since, silent=True, stderr=None)
    plan = json.loads(str(out))
    for line in plan["lines"]:
        session.log(line)
    for name, func in nox.registry.get().items():
        if name == session.name:
            continue
        if plan["everything"] and func.default:
            session.notify(name, posargs=[])
        elif name in plan["sessions"]:
            session.notify(name, posargs=plan["sessions"][name] or [])
