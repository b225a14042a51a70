#!/usr/bin/env bash
# Build BuildKit's daemon and client from the Go module proxy, pinned and cached.
#
#   scripts/build-buildkit.sh       # called by scripts/setup.sh; safe to run again
#
# Builds buildkitd and buildctl into $RELEASEKIT_CACHE/bin/<name>-<version> (default
# ~/.cache/releasekit) and links them into /usr/local/bin (or $RELEASEKIT_BIN_DIR). A cached
# binary is never built again; the cold build takes about 3 minutes on 2 cores.
#
# BuildKit's go.mod has `exclude` directives, so `go install module@version` refuses it: the
# module is built inside a copy of its own source under $RELEASEKIT_CACHE/src.
set -euo pipefail

BUILDKIT_VERSION="${BUILDKIT_VERSION:-v0.34.2}"
CACHE="${RELEASEKIT_CACHE:-$HOME/.cache/releasekit}"
BIN_DIR="${RELEASEKIT_BIN_DIR:-/usr/local/bin}"

say() { printf '\033[1m[buildkit]\033[0m %s\n' "$*"; }
die() { printf '[buildkit] error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE/bin" "$CACHE/src"
exec 9>"$CACHE/build-buildkit.lock"
if ! flock -n 9; then
  say "another build holds $CACHE/build-buildkit.lock; waiting for it"
  flock 9
fi

if [ ! -x "$CACHE/bin/buildkitd-$BUILDKIT_VERSION" ] || [ ! -x "$CACHE/bin/buildctl-$BUILDKIT_VERSION" ]; then
  command -v go >/dev/null || die "BuildKit is built with Go, which is missing; install Go >= 1.24."
  export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
  say "building buildkitd and buildctl $BUILDKIT_VERSION from the Go module proxy (about 3 minutes)"
  dir="$(go mod download -json "github.com/moby/buildkit@$BUILDKIT_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  src="$CACHE/src/buildkit-$BUILDKIT_VERSION"
  rm -rf "$src" && cp -r "$dir" "$src" && chmod -R u+w "$src"
  out="$(mktemp -d)"
  (cd "$src" && go build -trimpath \
    -ldflags "-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit" \
    -o "$out/" ./cmd/buildkitd ./cmd/buildctl)
  mv "$out/buildkitd" "$CACHE/bin/buildkitd-$BUILDKIT_VERSION"
  mv "$out/buildctl" "$CACHE/bin/buildctl-$BUILDKIT_VERSION"
  rm -rf "$out" "$src"
fi
ln -sf "$CACHE/bin/buildkitd-$BUILDKIT_VERSION" "$BIN_DIR/buildkitd"
ln -sf "$CACHE/bin/buildctl-$BUILDKIT_VERSION" "$BIN_DIR/buildctl"
say "buildkitd and buildctl $BUILDKIT_VERSION"
