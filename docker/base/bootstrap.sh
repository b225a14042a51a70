#!/usr/bin/env bash
# Build local base images with debootstrap, for machines that cannot pull from a registry.
#
#   docker/base/bootstrap.sh            # builds what is missing, records what has no record
#   FORCE=1 docker/base/bootstrap.sh    # rebuilds both
#   RECORD=1 docker/base/bootstrap.sh   # records the ids of the present images as they are
#
# Each image's id is written to $RELEASEKIT_BASE_RECORD (default
# /var/cache/releasekit/base-images, one `<image> <id>` line each); the toolkit builds on a
# local base only while its id is the recorded one (debootstrap is not reproducible, so a
# rebuilt base is another image).
#
# Makes three images from Debian bookworm (minbase), imported with `docker import`:
#   releasekit-base/python:3.11-bookworm   python3 + venv, the PYTHON_BASE of the Dockerfiles
#   releasekit-base/nginx:bookworm         nginx, the NGINX_BASE of the Dockerfiles
#   releasekit-base/redis:7-bookworm       Debian's redis-server: what the sandbox pushes in place
#                                          of the [[third_party]] redis of release.toml
# Real users keep the defaults (python:3.11-slim-bookworm, nginx:1.27-bookworm, redis by digest).
set -euo pipefail

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE="${DEBIAN_SUITE:-bookworm}"
PYTHON_IMAGE="${PYTHON_BASE_LOCAL:-releasekit-base/python:3.11-bookworm}"
NGINX_IMAGE="${NGINX_BASE_LOCAL:-releasekit-base/nginx:bookworm}"
REDIS_IMAGE="${REDIS_LOCAL:-releasekit-base/redis:7-bookworm}"
WORK="${BOOTSTRAP_WORKDIR:-/var/cache/releasekit/rootfs}"
RECORD_FILE="${RELEASEKIT_BASE_RECORD:-/var/cache/releasekit/base-images}"

say() { printf '[base-images] %s\n' "$*"; }
die() { printf '[base-images] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "debootstrap needs root; run this script as root (sudo $0)."
command -v debootstrap >/dev/null || die "debootstrap is missing; run 'apt-get install debootstrap'."
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}); start dockerd first."

image_id() { docker image inspect -f '{{.Id}}' "$1"; }
recorded_id() { awk -v image="$1" '$1 == image { print $2 }' "$RECORD_FILE" 2>/dev/null || true; }

record() {
  local image="$1" id
  id="$(image_id "$image")"
  mkdir -p "$(dirname "$RECORD_FILE")"
  { awk -v image="$image" '$1 != image' "$RECORD_FILE" 2>/dev/null || true; echo "$image $id"; } \
    > "$RECORD_FILE.tmp"
  mv "$RECORD_FILE.tmp" "$RECORD_FILE"
  say "$image recorded as $id in $RECORD_FILE"
}

build() {
  local image="$1" include="$2" ; shift 2
  if [ -z "${FORCE:-}" ] && docker image inspect "$image" >/dev/null 2>&1; then
    local id expected
    id="$(image_id "$image")"
    expected="$(recorded_id "$image")"
    if [ -z "$expected" ] || [ -n "${RECORD:-}" ]; then
      record "$image"
    elif [ "$expected" != "$id" ]; then
      say "warning: $image is $id but $RECORD_FILE records $expected; builds refuse it until" \
          "'FORCE=1 $0' rebuilds and records it or 'RECORD=1 $0' records the present one"
    else
      say "$image present ($id, as recorded)"
    fi
    return
  fi
  local root="$WORK/${image//[\/:]/_}"
  rm -rf "$root"
  mkdir -p "$root"
  say "debootstrap $SUITE ($include) -> $image (about a minute)"
  debootstrap --variant=minbase --include="$include" "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; die "debootstrap failed for $image; full log in $root.log"; }
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
         "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/var/log/*
  "$@" "$root"
  tar -C "$root" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    - "$image" >/dev/null
  rm -rf "$root" "$root.log"
  say "$image built ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
  record "$image"
}

python_extras() {
  ln -sf python3 "$1/usr/bin/python"
}

nginx_extras() {
  # The official nginx image logs to stdout/stderr; do the same.
  mkdir -p "$1/var/log/nginx"
  ln -sf /dev/stdout "$1/var/log/nginx/access.log" 2>/dev/null || true
  ln -sf /dev/stderr "$1/var/log/nginx/error.log" 2>/dev/null || true
}

redis_extras() {
  # The data directory the chart mounts; redis-server and redis-cli are on PATH.
  mkdir -p "$1/data"
}

build "$PYTHON_IMAGE" "python3,python3-venv,ca-certificates" python_extras
build "$NGINX_IMAGE" "nginx-light,ca-certificates,curl" nginx_extras
build "$REDIS_IMAGE" "redis-server" redis_extras
