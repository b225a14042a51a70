#!/usr/bin/env bash
# Return a deployment to its previous healthy version (or --to one).
#
#   scripts/rollback.sh --env pilot [--to 1.1.0]
#
# A thin wrapper: every flag goes to `invoke rollback` (`.venv/bin/invoke --help rollback`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exec "$ROOT/.venv/bin/invoke" rollback "$@"
