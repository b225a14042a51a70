"""The ``ironcage`` command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

import ironcage_sandbox

from ironcage_cli import __version__
from ironcage_cli._frozen import (
    SANDBOX_EXEC,
    is_frozen,
    python_flags_prefix,
    sandbox_confinement,
    sandbox_exec,
    sandbox_python,
)
from ironcage_cli.api import Agent, ApiClient, ApiConfig, ApiError, ConfigError

PROG = "ironcage"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_STOPPED = 124
"""Exit status when the sandbox killed the run itself (wall timeout or output limit)."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run Python files in the ironcage sandbox and manage control panel agents.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser("version", help="print the version", description="Print the version.")

    run = commands.add_parser(
        "run",
        help="run a Python file in the local sandbox",
        description=(
            "Run a Python file in an isolated, resource-limited subprocess, print its output and "
            "exit with its exit status. When a limit stops it, the reason goes to stderr and the "
            "status is the child's (e.g. 1 for MemoryError, 128+signal) or 124 when the sandbox "
            "killed it (timeout, output limit)."
        ),
    )
    run.add_argument("file", metavar="FILE", help="the Python file to run ('-' for stdin)")
    run.add_argument(
        "--timeout", type=_positive_float, default=5.0, help="wall-clock seconds (default 5)"
    )
    run.add_argument(
        "--memory-mb", type=_positive_int, default=256, help="memory limit in MiB (default 256)"
    )
    run.add_argument(
        "--cpu-seconds",
        type=_positive_int,
        default=None,
        help="CPU seconds (default: the timeout, rounded up)",
    )
    run.add_argument(
        "--output-limit",
        type=_positive_int,
        default=65536,
        help="bytes of stdout and of stderr kept; more stops the run (default 65536)",
    )

    agents = commands.add_parser(
        "agents",
        help="manage agents in the control panel",
        description=(
            "Manage agents through the control panel API. Needs IRONCAGE_API_URL "
            "(e.g. http://127.0.0.1:8000) and IRONCAGE_TOKEN."
        ),
    )
    agent_commands = agents.add_subparsers(dest="agents_command", metavar="ACTION", required=True)
    listing = agent_commands.add_parser("list", help="list agents", description="List agents.")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    create = agent_commands.add_parser(
        "create", help="create an agent", description="Create an agent."
    )
    create.add_argument("name", metavar="NAME", help="the agent's name")
    create.add_argument("--description", default="", help="a short description")
    create.add_argument("--json", action="store_true", help="print the created agent as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Hidden modes used by the sandbox when this program is a frozen one-file binary.
    if args_list and args_list[0] == SANDBOX_EXEC:
        return sandbox_exec(args_list[1:])
    if is_frozen():
        flags = python_flags_prefix(args_list)
        if flags:
            return sandbox_exec(args_list[flags:])

    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command == "version":
        print(f"{PROG} {__version__}")
        return EXIT_OK
    if args.command == "run":
        return _run(args)
    return _agents(args)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _read_source(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as handle:
        return handle.read()


_STOP_DETAILS = {
    "timeout": "wall-clock timeout of {timeout:g}s",
    "cpu": "CPU limit of {cpu}s",
    "memory": "memory limit of {memory} MiB",
    "output": "output limit of {output} bytes",
}


def _run(args: argparse.Namespace) -> int:
    try:
        code = _read_source(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        _error(f"cannot read {args.file}: {exc}")
        return EXIT_USAGE
    cpu_seconds = args.cpu_seconds or max(1, math.ceil(args.timeout))
    try:
        result = ironcage_sandbox.run(
            code,
            timeout=args.timeout,
            cpu_seconds=cpu_seconds,
            memory_mb=args.memory_mb,
            output_limit=args.output_limit,
            python=sandbox_python(),
            confinement=sandbox_confinement(),
        )
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except ironcage_sandbox.SandboxError as exc:
        _error(str(exc))
        return EXIT_FAILURE
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.write(result.stderr)
    if result.stopped != "exited":
        if result.stderr and not result.stderr.endswith("\n"):
            sys.stderr.write("\n")
        detail = _STOP_DETAILS[result.stopped].format(
            timeout=args.timeout,
            cpu=cpu_seconds,
            memory=args.memory_mb,
            output=args.output_limit,
        )
        print(
            f"{PROG}: stopped: {result.stopped} ({detail}) after {result.duration:.2f}s",
            file=sys.stderr,
        )
    sys.stderr.flush()
    return _exit_status(result.exit_code)


def _exit_status(exit_code: int | None) -> int:
    if exit_code is None:
        return EXIT_STOPPED
    if exit_code < 0:
        return 128 + (-exit_code)
    return exit_code & 0xFF


def _agents(args: argparse.Namespace) -> int:
    try:
        client = ApiClient(ApiConfig.from_env())
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    try:
        if args.agents_command == "list":
            _print_agents(client.list_agents(), as_json=args.json)
            return EXIT_OK
        name = args.name.strip()
        if not name:
            _error("NAME must not be empty")
            return EXIT_USAGE
        agent = client.create_agent(name, args.description)
    except ApiError as exc:
        _error(str(exc))
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(agent.to_dict(), indent=2))
    else:
        print(f"Created agent {agent.id} ({agent.name}).")
    return EXIT_OK


def _print_agents(agents: list[Agent], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps([agent.to_dict() for agent in agents], indent=2))
        return
    if not agents:
        print("No agents.")
        return
    header = ("ID", "NAME", "DESCRIPTION", "CREATED")
    rows = [(str(a.id), a.name, " ".join(a.description.split()), a.created_at) for a in agents]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
