"""Invoke entry point of the ironcage monorepo: `invoke --list` shows every task."""

from releasekit.commands import namespace

ns = namespace()
