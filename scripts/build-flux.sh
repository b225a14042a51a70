#!/usr/bin/env bash
# Build Flux's controllers from the Go module proxy, pinned and cached, with their CRDs.
#
#   scripts/build-flux.sh       # called by scripts/setup.sh (part cluster); safe to run again
#
# Builds source-controller, kustomize-controller and helm-controller of one Flux release into
# $RELEASEKIT_CACHE/bin/<name>-<version> (default ~/.cache/releasekit), keeps the CRDs of the
# same module versions beside each binary in $RELEASEKIT_CACHE/bin/<name>-<version>.crds/,
# and links the binaries into /usr/local/bin (or $RELEASEKIT_BIN_DIR). A cached binary is
# never built again; the cold build takes about 4 minutes on 2 cores.
#
# Each controller's go.mod has `replace github.com/fluxcd/<name>/api => ./api`, so `go
# install module@version` refuses it: the module is built in a copy of its source with the
# api module of the same version placed at ./api.
set -euo pipefail

# Flux v2.9.2 (github.com/fluxcd/flux2/v2 manifests/bases): the one place these are pinned.
FLUX_VERSION="v2.9.2"
FLUX_CONTROLLERS=(
  "source-controller v1.9.3"
  "kustomize-controller v1.9.3"
  "helm-controller v1.6.2"
)
CACHE="${RELEASEKIT_CACHE:-$HOME/.cache/releasekit}"
BIN_DIR="${RELEASEKIT_BIN_DIR:-/usr/local/bin}"

say() { printf '\033[1m[flux]\033[0m %s\n' "$*"; }
die() { printf '[flux] error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE/bin" "$CACHE/src"
exec 9>"$CACHE/build-flux.lock"
if ! flock -n 9; then
  say "another build holds $CACHE/build-flux.lock; waiting for it"
  flock 9
fi

module_dir() {  # module@version -> its directory in the module cache
  go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

build_controller() {  # name version
  local name="$1" version="$2" dir api src out start=$SECONDS
  say "building $name $version from the Go module proxy (first build only)"
  dir="$(module_dir "github.com/fluxcd/$name@$version")" \
    || die "could not download github.com/fluxcd/$name@$version from the Go proxy"
  api="$(module_dir "github.com/fluxcd/$name/api@$version")" \
    || die "could not download github.com/fluxcd/$name/api@$version from the Go proxy"
  src="$CACHE/src/$name-$version"
  rm -rf "$src" && cp -r "$dir" "$src" && chmod -R u+w "$src"
  rm -rf "$src/api" && cp -r "$api" "$src/api" && chmod -R u+w "$src/api"
  out="$(mktemp -d)"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$out/$name" .)
  rm -rf "$CACHE/bin/$name-$version.crds"
  cp -r "$src/config/crd/bases" "$CACHE/bin/$name-$version.crds"
  mv "$out/$name" "$CACHE/bin/$name-$version"
  rm -rf "$out" "$src"
  say "built $name $version in $((SECONDS - start)) s"
}

export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
for entry in "${FLUX_CONTROLLERS[@]}"; do
  read -r name version <<<"$entry"
  if [ ! -x "$CACHE/bin/$name-$version" ] || [ ! -d "$CACHE/bin/$name-$version.crds" ]; then
    command -v go >/dev/null || die "Flux's controllers are built with Go, which is missing; install Go >= 1.24."
    build_controller "$name" "$version"
  fi
  ln -sf "$CACHE/bin/$name-$version" "$BIN_DIR/$name"
  say "$name $version (Flux $FLUX_VERSION)"
done
