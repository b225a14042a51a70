#!/usr/bin/env bash
# Build the local Kubernetes control plane from the Go module proxy, pinned and cached.
#
#   scripts/build-kubernetes.sh       # called by scripts/setup.sh; safe to run again
#
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok into
# $RELEASEKIT_CACHE/bin/<name>-<version> (default ~/.cache/releasekit) and links them into
# /usr/local/bin (or $RELEASEKIT_BIN_DIR). A cached binary is never built again; the cold
# build takes about 10 minutes on 2 cores and about 3 GB of memory for the largest link.
#
# etcd's server module and k8s.io/kubernetes carry replace directives, so `go install
# module@version` refuses them: each is built inside a small wrapper module under
# $RELEASEKIT_CACHE/src that requires the pinned version (and, for Kubernetes, the staging
# modules k8s.io/* at the matching v0.X.Y release instead of the v0.0.0 placeholders).
set -euo pipefail

ETCD_VERSION="v3.6.16"
KUBERNETES_VERSION="v1.37.2"
KWOK_VERSION="v0.8.0"
CACHE="${RELEASEKIT_CACHE:-$HOME/.cache/releasekit}"
BIN_DIR="${RELEASEKIT_BIN_DIR:-/usr/local/bin}"

say() { printf '\033[1m[kubernetes]\033[0m %s\n' "$*"; }
die() { printf '[kubernetes] error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "the local cluster is built with Go, which is missing; install Go >= 1.24."
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
mkdir -p "$CACHE/bin" "$CACHE/src"
# One build at a time per cache: a second setup waits for the first, then finds the binaries.
exec 9>"$CACHE/build-kubernetes.lock"
if ! flock -n 9; then
  say "another build holds $CACHE/build-kubernetes.lock; waiting for it"
  flock 9
fi

link() {  # name version
  ln -sf "$CACHE/bin/$1-$2" "$BIN_DIR/$1"
}

timed() {  # label command...
  local label="$1" start=$SECONDS; shift
  say "building $label (first build only)"
  "$@"
  say "built $label in $((SECONDS - start)) s"
}

# etcd ------------------------------------------------------------------------------------
build_etcd() {
  local dir="$CACHE/src/etcd-$ETCD_VERSION" tmp
  mkdir -p "$dir"
  (
    cd "$dir"
    [ -f go.mod ] || go mod init releasekit.local/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 \
      || go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    tmp="$(mktemp -d)"
    go build -trimpath -o "$tmp/etcd" go.etcd.io/etcd/server/v3
    mv "$tmp/etcd" "$CACHE/bin/etcd-$ETCD_VERSION"; rm -rf "$tmp"
  )
}
if [ ! -x "$CACHE/bin/etcd-$ETCD_VERSION" ]; then timed "etcd $ETCD_VERSION" build_etcd; fi
link etcd "$ETCD_VERSION"
say "etcd $ETCD_VERSION"

# kube-apiserver, kube-controller-manager, kube-scheduler ----------------------------------
KUBE_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler)
kube_module() {
  local dir="$CACHE/src/kubernetes-$KUBERNETES_VERSION" gomod staging minor
  mkdir -p "$dir"
  cd "$dir"
  [ -f go.mod ] && grep -q "k8s.io/kubernetes $KUBERNETES_VERSION" go.mod && return 0
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION from the Go proxy"
  minor="${KUBERNETES_VERSION#v1.}"           # 37.2
  staging="v0.$minor"
  {
    echo "module releasekit.local/kubernetes"
    echo
    echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    grep -E '^[[:space:]]+k8s\.io/[^ ]+ v0\.0\.0$' "$gomod" | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >go.mod
  for component in "${KUBE_COMPONENTS[@]}"; do
    go get "k8s.io/kubernetes/cmd/$component@$KUBERNETES_VERSION" >/dev/null
  done
}
build_kube() {  # component
  local tmp pkg="k8s.io/component-base/version" cpkg="k8s.io/client-go/pkg/version" flags
  local minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  flags="-s -w"
  for p in "$pkg" "$cpkg"; do
    flags="$flags -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (
    kube_module
    tmp="$(mktemp -d)"
    go build -trimpath -ldflags "$flags" -o "$tmp/$1" "k8s.io/kubernetes/cmd/$1"
    mv "$tmp/$1" "$CACHE/bin/$1-$KUBERNETES_VERSION"; rm -rf "$tmp"
  )
}
for component in "${KUBE_COMPONENTS[@]}"; do
  if [ ! -x "$CACHE/bin/$component-$KUBERNETES_VERSION" ]; then
    timed "$component $KUBERNETES_VERSION" build_kube "$component"
  fi
  link "$component" "$KUBERNETES_VERSION"
  say "$component $KUBERNETES_VERSION"
done

# kwok (the fake kubelet) -----------------------------------------------------------------
build_kwok() {
  local tmp; tmp="$(mktemp -d)"
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv "$tmp/kwok" "$CACHE/bin/kwok-$KWOK_VERSION"; rm -rf "$tmp"
}
if [ ! -x "$CACHE/bin/kwok-$KWOK_VERSION" ]; then timed "kwok $KWOK_VERSION" build_kwok; fi
link kwok "$KWOK_VERSION"
say "kwok $KWOK_VERSION"
