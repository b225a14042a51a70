#!/usr/bin/env bash
# Deploy a released version and check its health (rolls back by itself when unhealthy).
#
#   scripts/deploy.sh --env pilot --version 1.2.0
#
# A thin wrapper: every flag goes to `invoke deploy` (`.venv/bin/invoke --help deploy`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exec "$ROOT/.venv/bin/invoke" deploy "$@"
