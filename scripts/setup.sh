#!/usr/bin/env bash
# Install everything the toolkit drives, idempotently, on Debian (bookworm) as root.
#
#   scripts/setup.sh          # install and start what is missing; prints each step
#
# What it does, in order:
#   1. apt packages: git, docker.io (engine), docker-registry, docker-compose, debootstrap,
#      chromium (browser checks), redis-server (the agent runtime's shared task store in
#      tests), curl, ca-certificates
#   2. starts dockerd if the engine does not answer
#   3. Go tools, pinned and cached by version under ~/.cache/releasekit/bin: helm v4,
#      actionlint and cosign (`go install`), and the local Kubernetes control plane
#      (scripts/build-kubernetes.sh: etcd, kube-apiserver, kube-controller-manager,
#      kube-scheduler, kwok; about 10 to 15 minutes the first time on 2 cores)
#   4. checks terraform (the machine image carries it)
#   5. the Python environment .venv: uv at the version uv.lock pins, then `uv sync --locked`
#      (the toolkit, the five packages, the test, lint and typecheck groups)
#   6. local base images (debootstrap) when the public ones cannot be pulled
set -euo pipefail

HELM_VERSION="v4.3.2"
COSIGN_VERSION="v3.1.3"
ACTIONLINT_VERSION="v1.7.4"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${RELEASEKIT_CACHE:-$HOME/.cache/releasekit}"
VENV="$ROOT/.venv"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

manual_help="On other systems install by hand: git, Docker Engine with compose, Distribution's \
registry (docker-registry), debootstrap (only where base images cannot be pulled), helm $HELM_VERSION, \
terraform >= 1.5, Python >= 3.11, and for the local cluster Go >= 1.24 (scripts/build-kubernetes.sh); then 'python3 -m venv .venv && .venv/bin/pip install -e .'."

if [ ! -r /etc/debian_version ] || ! command -v apt-get >/dev/null; then
  die "this script supports Debian (bookworm) only. $manual_help"
fi
if [ "$(id -u)" != 0 ]; then
  # CI runners (GitHub's Ubuntu images) give password-less sudo: use it, keeping PATH so the
  # Python, Go, helm and terraform their setup actions installed stay first.
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo --preserve-env env "PATH=$PATH" "$0" "$@"
  fi
  die "run it as root (sudo scripts/setup.sh): it installs apt packages and starts dockerd. $manual_help"
fi

# 1. apt packages --------------------------------------------------------------------------
APT_PACKAGES=(git ca-certificates curl python3-venv docker.io docker-registry docker-compose debootstrap
              chromium chromium-driver redis-server)
# A machine whose Docker engine already answers (a CI runner's docker-ce) keeps it.
if docker info >/dev/null 2>&1; then
  APT_PACKAGES=("${APT_PACKAGES[@]/docker.io}")
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  [ -n "$pkg" ] || continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "apt packages present"
fi
# The distribution's registry service would take port 5000 and its Redis port 6379; the
# toolkit and the tests run their own on free ports.
for service in docker-registry redis-server; do
  if command -v systemctl >/dev/null && systemctl is-active -q "$service" 2>/dev/null; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done

# 2. Docker engine ---------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  # A dockerd killed without cleanup leaves its pid file behind, and a new one refuses to start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  say "starting dockerd (log: /var/log/dockerd.log)"
  if command -v systemctl >/dev/null && systemctl start docker 2>/dev/null; then :; else
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || die "dockerd did not start; see /var/log/dockerd.log"
fi
say "docker engine $(docker version --format '{{.Server.Version}}')"

# 3. Go tools: helm, actionlint, the local cluster (pinned, cached) --------------------------
go_tool() {  # name module version
  local name="$1" module="$2" version="$3" bin="$CACHE/bin/$1-$3"
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null || die "$name $version is built with Go, which is missing; install Go >= 1.22."
    say "go install $module@$version (cached in $CACHE/bin)"
    mkdir -p "$CACHE/bin"
    local tmp; tmp="$(mktemp -d)"
    GOBIN="$tmp" CGO_ENABLED=0 go install -ldflags "${4:-}" "$module@$version"
    mv "$tmp/$name" "$bin"; rm -rf "$tmp"
  fi
  ln -sf "$bin" "/usr/local/bin/$name"
  say "$name $version"
}
go_tools() {
  go_tool helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION" \
    "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
  go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION" \
    "-X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION"
  go_tool cosign github.com/sigstore/cosign/v3/cmd/cosign "$COSIGN_VERSION" \
    "-X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION"
  command -v openssl >/dev/null || die "openssl is missing: apt-get install openssl"
  RELEASEKIT_CACHE="$CACHE" "$ROOT/scripts/build-kubernetes.sh"
}
# The cold Go builds take minutes of CPU; the steps below are mostly downloads and disk,
# so they run meanwhile and the builds are waited for at the end.
go_tools &
GO_TOOLS=$!

# 4. terraform ---------------------------------------------------------------------------------
command -v terraform >/dev/null || die "terraform is missing: install terraform >= 1.5 into \
/usr/local/bin from HashiCorp's releases (recent releases cannot be built with go install)."
say "$(terraform version 2>/dev/null | head -1)"

# 5. Python environment ----------------------------------------------------------------------
# uv comes from pip at the version uv.lock pins; `uv sync --locked` then installs the toolkit,
# every package of the workspace (editable) and the groups below exactly as locked, and
# refuses a lock that no longer matches the pyproject.toml files.
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
fi
UV_VERSION="$("$VENV/bin/python" - "$ROOT/uv.lock" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as lock:
    print(next(p["version"] for p in tomllib.load(lock)["package"] if p["name"] == "uv"))
PY
)" || die "uv.lock names no uv version; restore uv.lock from git"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
say "installing the toolkit and its tools into .venv from uv.lock (uv $UV_VERSION)"
UV_PROJECT_ENVIRONMENT="$VENV" "$VENV/bin/uv" sync --quiet --locked --project "$ROOT" \
  --python "$VENV/bin/python" --no-default-groups --all-packages \
  --group test --group lint --group typecheck \
  || die "uv sync --locked failed (above); when it says the lock needs to be updated, run \
'uv lock' and commit uv.lock"

# 6. base images -------------------------------------------------------------------------------
"$ROOT/docker/base/bootstrap.sh"

if ! wait "$GO_TOOLS"; then
  die "building the pinned Go tools failed (see the lines above); run scripts/setup.sh again"
fi

say "done: run '.venv/bin/invoke doctor' to see every tool"
