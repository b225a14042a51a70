#!/usr/bin/env bash
# Check a deployment's health; exits non-zero when it is unhealthy.
#
#   scripts/health-check.sh --env pilot [--version 1.2.0]
#
# A thin wrapper: every flag goes to `invoke health` (`.venv/bin/invoke --help health`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exec "$ROOT/.venv/bin/invoke" health "$@"
