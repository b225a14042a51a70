#!/usr/bin/env bash
# Install what the toolkit drives, idempotently, on Debian (bookworm) as root.
#
#   scripts/setup.sh                       # every part (--with all): what `invoke release` and `nox` need
#   scripts/setup.sh --with helm,registry  # only these parts (and always git and .venv)
#   scripts/setup.sh --with none           # git and .venv only
#   scripts/setup.sh --list                # the parts, one a line
#
# Parts (--with takes any of them, comma-separated):
#   docker     the Docker engine (a running one is kept), docker-compose, BuildKit (buildkitd
#              and buildctl built from the Go module proxy by scripts/build-buildkit.sh, runc),
#              base images: the public ones pulled, or built with debootstrap when they
#              cannot be pulled (Docker images for amd64, OCI layouts for amd64 and arm64),
#              qemu-user-static and its aarch64 handler registered with binfmt_misc
#              (linux/arm64 builds)
#   registry   Distribution's registry (docker-registry), the sandbox's OCI registry
#   helm       helm v4, built with Go unless that version is already on PATH
#   cosign     cosign, built with Go
#   actionlint actionlint, built with Go
#   cluster    the local Kubernetes control plane (scripts/build-kubernetes.sh: etcd,
#              kube-apiserver, kube-controller-manager, kube-scheduler, kwok; about 10 to
#              15 minutes the first time on 2 cores), Flux's source-, kustomize- and
#              helm-controller with their CRDs (scripts/build-flux.sh, about 4 minutes more)
#              and openssl
#   browser    chromium and its driver (the end-to-end check of the pilot's frontend)
#   redis      redis-server (the agent runtime's tests start their own)
#   terraform  checks terraform (installed from HashiCorp's releases, not by this script)
#   act        act, built with Go: runs the GitHub workflows locally (`nox -s workflows-run`);
#              only when named, never by default
#
# In order: 1. apt packages of the parts; 2. starts dockerd if the engine does not answer;
# 3. the Go tools, pinned and cached by version under ~/.cache/releasekit/bin; 4. checks
# terraform; 5. the Python environment .venv: uv at the version uv.lock pins, then
# `uv sync --locked` (the toolkit, the five packages, the test, lint and typecheck groups);
# 6. base images; 7. BuildKit primed with them. Run through sudo, the files the calling user
# works with afterwards (.venv, the tool cache) are given back to that user.
set -euo pipefail

HELM_VERSION="v4.3.2"
COSIGN_VERSION="v3.1.3"
ACTIONLINT_VERSION="v1.7.4"
ACT_VERSION="v0.2.89"
PARTS=(docker registry helm cosign actionlint cluster browser redis terraform)
OPTIONAL_PARTS=(act)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${RELEASEKIT_CACHE:-$HOME/.cache/releasekit}"
VENV="$ROOT/.venv"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

manual_help="On other systems install by hand: git, Docker Engine with compose, Distribution's \
registry (docker-registry), debootstrap (only where base images cannot be pulled), helm $HELM_VERSION, \
terraform >= 1.5, Python >= 3.11, and for the local cluster Go >= 1.24 (scripts/build-kubernetes.sh); then 'python3 -m venv .venv && .venv/bin/pip install -e .'."

# Arguments -------------------------------------------------------------------------------------
selected="${PARTS[*]}"
while [ $# -gt 0 ]; do
  case "$1" in
    --with) [ $# -ge 2 ] || die "--with needs a comma-separated list of parts: ${PARTS[*]} (or all, none)"
            selected="${2//,/ }"; shift 2 ;;
    --with=*) selected="${1#--with=}"; selected="${selected//,/ }"; shift ;;
    --list) printf '%s\n' "${PARTS[@]}" "${OPTIONAL_PARTS[@]}"; exit 0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'; usage: scripts/setup.sh [--with PART,...|all|none] [--list]" ;;
  esac
done
case "$selected" in none) selected="" ;; all) selected="${PARTS[*]}" ;; esac
for part in $selected; do
  [[ " ${PARTS[*]} ${OPTIONAL_PARTS[*]} " == *" $part "* ]] \
    || die "unknown part '$part' in --with; the parts are: ${PARTS[*]} ${OPTIONAL_PARTS[*]} (or all, none)"
done
wants() { [[ " $selected " == *" $1 "* ]]; }

if [ ! -r /etc/debian_version ] || ! command -v apt-get >/dev/null; then
  die "this script supports Debian (bookworm) only. $manual_help"
fi
if [ "$(id -u)" != 0 ]; then
  # CI runners (GitHub's Ubuntu images) give password-less sudo: use it, keeping PATH so the
  # Python, Go, helm and terraform their setup actions installed stay first, and the tool
  # cache in this user's home; HOME is root's, so root's own caches stay out of this home.
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo --preserve-env env "PATH=$PATH" "HOME=$(getent passwd root | cut -d: -f6)" \
      "RELEASEKIT_CACHE=$CACHE" "$0" --with "${selected:-none}"
  fi
  die "run it as root (sudo scripts/setup.sh): it installs apt packages and starts dockerd. $manual_help"
fi
# Through sudo: give the calling user back what it uses afterwards, however the script ends.
give_back() {
  if [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ]; then
    for path in "$VENV" "$CACHE"; do
      # Only what lies in a directory of that user (never root's own cache).
      if [ -e "$path" ] && [ "$(stat -c %u "$(dirname "$path")")" = "$SUDO_UID" ]; then
        chown -R "$SUDO_UID:$SUDO_GID" "$path"
      fi
    done
  fi
  return 0
}
trap give_back EXIT
say "parts: ${selected:-none}"

# 1. apt packages --------------------------------------------------------------------------
apt_install() {  # packages...: installs those not installed yet
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
APT_PACKAGES=(git ca-certificates curl python3-venv)
# A machine whose Docker engine already answers (a CI runner's docker-ce) keeps it.
if wants docker; then
  docker info >/dev/null 2>&1 || APT_PACKAGES+=(docker.io)
  APT_PACKAGES+=(docker-compose runc)
fi
wants registry && APT_PACKAGES+=(docker-registry)
wants browser && APT_PACKAGES+=(chromium chromium-driver)
wants redis && APT_PACKAGES+=(redis-server)
wants cluster && APT_PACKAGES+=(openssl)
# QEMU runs the linux/arm64 builds and the arm64 debootstrap of the local bases.
wants docker && APT_PACKAGES+=(qemu-user-static)
apt_install "${APT_PACKAGES[@]}"
say "apt packages present: ${APT_PACKAGES[*]}"
# The distribution's registry service would take port 5000 and its Redis port 6379; the
# toolkit and the tests run their own on free ports.
for service in docker-registry redis-server; do
  if command -v systemctl >/dev/null && systemctl is-active -q "$service" 2>/dev/null; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done

# 2. Docker engine ---------------------------------------------------------------------------
if wants docker && ! docker info >/dev/null 2>&1; then
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
wants docker && say "docker engine $(docker version --format '{{.Server.Version}}')"

# 2b. QEMU for linux/arm64 ---------------------------------------------------------------------
# Without systemd, installing qemu-user-static registers nothing: register its aarch64
# handler with binfmt_misc here (flag F: the kernel keeps the interpreter open, so it also
# runs inside BuildKit's containers and debootstrap's chroot). Where that cannot be done
# (an unprivileged container), builds and local bases are linux/amd64 only.
register_qemu_arm64() {
  local misc=/proc/sys/fs/binfmt_misc conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  if [ "$(dpkg --print-architecture)" = arm64 ]; then
    say "linux/arm64: the host's own platform"; return
  fi
  if [ -r "$misc/qemu-aarch64" ] && grep -qx enabled "$misc/qemu-aarch64"; then
    say "linux/arm64: QEMU's aarch64 handler is registered ($misc/qemu-aarch64)"; return
  fi
  local why=""
  if [ ! -r "$conf" ]; then
    why="$conf is missing (apt-get install qemu-user-static)"
  elif [ ! -w "$misc/register" ] && ! mount -t binfmt_misc binfmt_misc "$misc" 2>/dev/null; then
    why="binfmt_misc cannot be mounted on $misc (an unprivileged container?)"
  elif [ -e "$misc/qemu-aarch64" ]; then
    echo 1 > "$misc/qemu-aarch64" 2>/dev/null || why="$misc/qemu-aarch64 cannot be enabled"
  elif ! cat "$conf" > "$misc/register" 2>/dev/null; then
    why="the kernel refused the handler in $conf"
  fi
  if [ -z "$why" ] && grep -qx enabled "$misc/qemu-aarch64" 2>/dev/null; then
    say "linux/arm64: registered QEMU's aarch64 handler ($misc/qemu-aarch64)"
  else
    say "warning: linux/arm64 cannot be built here: ${why:-$misc/qemu-aarch64 is not enabled}." \
        "Images and local bases will be linux/amd64 only, and a release whose release.toml" \
        "lists linux/arm64 in [release] platforms refuses to publish; run this script as root" \
        "on a host (or privileged container) where binfmt_misc can be mounted, or narrow" \
        "platforms to [\"linux/amd64\"]."
  fi
}
wants docker && register_qemu_arm64

# 3. Go tools: helm, actionlint, cosign, the local cluster (pinned, cached) -------------------
go_tool() {  # name module version ldflags
  local name="$1" module="$2" version="$3" bin="$CACHE/bin/$1-$3" found
  found="$(command -v "$name" || true)"
  if [ -n "$found" ] && [ "$found" != "/usr/local/bin/$name" ] \
     && { "$name" version 2>&1 || true; } | grep -qF "$version"; then
    say "$name $version (found at $found)"
    return
  fi
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
  if wants helm; then
    go_tool helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION" \
      "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
  fi
  if wants actionlint; then
    go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION" \
      "-X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION"
  fi
  if wants cosign; then
    go_tool cosign github.com/sigstore/cosign/v3/cmd/cosign "$COSIGN_VERSION" \
      "-X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION"
  fi
  if wants act; then
    go_tool act github.com/nektos/act "$ACT_VERSION" "-X main.version=$ACT_VERSION"
  fi
  if wants docker; then
    RELEASEKIT_CACHE="$CACHE" "$ROOT/scripts/build-buildkit.sh"
  fi
  if wants cluster; then
    command -v openssl >/dev/null || die "openssl is missing: apt-get install openssl"
    RELEASEKIT_CACHE="$CACHE" "$ROOT/scripts/build-kubernetes.sh"
    RELEASEKIT_CACHE="$CACHE" "$ROOT/scripts/build-flux.sh"
  fi
}
# The cold Go builds take minutes of CPU; the steps below are mostly downloads and disk,
# so they run meanwhile and the builds are waited for at the end.
go_tools &
GO_TOOLS=$!

# 4. terraform ---------------------------------------------------------------------------------
if wants terraform; then
  command -v terraform >/dev/null || die "terraform is missing: install terraform >= 1.5 into \
/usr/local/bin from HashiCorp's releases (recent releases cannot be built with go install)."
  say "$(terraform version 2>/dev/null | head -1)"
fi

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
# The public base images are pulled where a registry answers; debootstrap builds local ones
# only where neither they nor the local ones are present and the pull fails.
image_present() { docker image inspect "$1" >/dev/null 2>&1; }
pinned_base() {  # build argument, default: the base image release.toml pins for it
  python3 - "$ROOT/release.toml" "$1" 2>/dev/null <<'PY' || true
import sys, tomllib
with open(sys.argv[1], "rb") as manifest:
    print(tomllib.load(manifest).get("base_images", {}).get(sys.argv[2], ""))
PY
}
if wants docker; then
  PYTHON_BASE_PUBLIC="$(pinned_base PYTHON_BASE)"; PYTHON_BASE_PUBLIC="${PYTHON_BASE_PUBLIC:-python:3.11-slim-bookworm}"
  NGINX_BASE_PUBLIC="$(pinned_base NGINX_BASE)"; NGINX_BASE_PUBLIC="${NGINX_BASE_PUBLIC:-nginx:1.27-bookworm}"
  if image_present "$PYTHON_BASE_PUBLIC" && image_present "$NGINX_BASE_PUBLIC"; then
    say "base images present: $PYTHON_BASE_PUBLIC, $NGINX_BASE_PUBLIC"
  elif timeout 300 docker pull -q "$PYTHON_BASE_PUBLIC" >/dev/null 2>&1 \
       && timeout 300 docker pull -q "$NGINX_BASE_PUBLIC" >/dev/null 2>&1; then
    say "base images pulled: $PYTHON_BASE_PUBLIC, $NGINX_BASE_PUBLIC"
  else
    # The local bases (and the sandbox's Redis): built once, then checked against their
    # recorded ids on every run; their OCI layouts add linux/arm64 where QEMU is registered
    # (debootstrap --arch arm64 under QEMU: a few minutes per base, once).
    apt_install debootstrap
    "$ROOT/docker/base/bootstrap.sh"
  fi
fi

if ! wait "$GO_TOOLS"; then
  die "building the pinned Go tools failed (see the lines above); run scripts/setup.sh again"
fi

# 7. the builder -------------------------------------------------------------------------------
# BuildKit imports every base (each platform) and builds the stages no commit changes once
# here, so the first release starts where any later one does. Through sudo for another user
# the builder's state would be root's: that user primes their own.
if wants docker; then
  if [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ]; then
    say "BuildKit not primed for the calling user: run '.venv/bin/invoke build.buildkit --prime'"
  else
    say "priming BuildKit: the base images and the stages no commit changes"
    (cd "$ROOT" && "$VENV/bin/invoke" build.buildkit --prime) \
      || die "priming BuildKit failed (above); run scripts/setup.sh again"
  fi
fi

say "done: run '.venv/bin/invoke doctor' to see every tool"
