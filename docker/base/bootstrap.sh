#!/usr/bin/env bash
# Build local base images with debootstrap, for machines that cannot pull from a registry.
#
#   docker/base/bootstrap.sh            # builds what is missing, records what has no record
#   FORCE=1 docker/base/bootstrap.sh    # rebuilds them all
#   RECORD=1 docker/base/bootstrap.sh   # records the present images and layouts as they are
#   ARM64=0 docker/base/bootstrap.sh    # layouts for linux/amd64 only (no arm64 debootstrap)
#   REDIS_ARM64=1 docker/base/bootstrap.sh  # redis's layout with linux/arm64 too
#
# Each base exists twice:
#   - a Docker Engine image for the host (linux/amd64), imported with `docker import`: what
#     compose and the pilot run; its id is recorded as `<image> <id>`;
#   - an OCI image layout, $RELEASEKIT_BASE_LAYOUTS/<name>/ (default: the folder `oci` beside
#     the record, <name> the image's last path part with `:` as `-`), whose index.json names
#     one OCI index with a linux/amd64 manifest (the Docker image's config and layer, so its
#     config digest is the image id) and a linux/arm64 one (debootstrap --arch arm64 under
#     QEMU): what BuildKit builds on. Its index digest is recorded as `oci:<image> <digest>`.
#     Without QEMU's binfmt handler for aarch64 (scripts/setup.sh registers it), the layout
#     holds linux/amd64 only, and this script says so; a later run with QEMU adds arm64.
#     The arm64 roots are debootstrapped side by side (a few minutes each under QEMU, once).
#     Redis is no base of a built image: its layout holds linux/amd64 unless REDIS_ARM64=1.
# The record is $RELEASEKIT_BASE_RECORD (default /var/cache/releasekit/base-images); the
# toolkit builds on a local base only while it is the recorded one (debootstrap is not
# reproducible, so a rebuilt base is another image). A run where everything is present and
# recorded builds nothing.
#
# Makes three bases from Debian bookworm (minbase):
#   releasekit-base/python:3.11-bookworm   python3 + venv, the PYTHON_BASE of the Dockerfiles
#   releasekit-base/nginx:bookworm         nginx, the NGINX_BASE of the Dockerfiles
#   releasekit-base/redis:7-bookworm       Debian's redis-server: what the sandbox pushes in place
#                                          of the [[third_party]] redis of release.toml
# Real users keep the defaults (python:3.11-slim-bookworm, nginx:1.27-bookworm, redis by digest).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE="${DEBIAN_SUITE:-bookworm}"
PYTHON_IMAGE="${PYTHON_BASE_LOCAL:-releasekit-base/python:3.11-bookworm}"
NGINX_IMAGE="${NGINX_BASE_LOCAL:-releasekit-base/nginx:bookworm}"
REDIS_IMAGE="${REDIS_LOCAL:-releasekit-base/redis:7-bookworm}"
WORK="${BOOTSTRAP_WORKDIR:-/var/cache/releasekit/rootfs}"
RECORD_FILE="${RELEASEKIT_BASE_RECORD:-/var/cache/releasekit/base-images}"
LAYOUTS="${RELEASEKIT_BASE_LAYOUTS:-$(dirname "$RECORD_FILE")/oci}"
ENV_VARS=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "LANG=C.UTF-8")
CMD='["bash"]'

say() { printf '[base-images] %s\n' "$*"; }
die() { printf '[base-images] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "debootstrap needs root; run this script as root (sudo $0)."
command -v debootstrap >/dev/null || die "debootstrap is missing; run 'apt-get install debootstrap'."
command -v python3 >/dev/null || die "python3 is missing; run 'apt-get install python3'."
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}); start dockerd first."
[ "$(dpkg --print-architecture)" = amd64 ] \
  || die "the host is $(dpkg --print-architecture); this script builds from an amd64 host only."

image_id() { docker image inspect -f '{{.Id}}' "$1"; }
recorded_id() { awk -v key="$1" '$1 == key { print $2 }' "$RECORD_FILE" 2>/dev/null || true; }
layout_dir() { local name="${1##*/}"; printf '%s/%s' "$LAYOUTS" "${name//:/-}"; }

record_value() {  # key value
  mkdir -p "$(dirname "$RECORD_FILE")"
  { awk -v key="$1" '$1 != key' "$RECORD_FILE" 2>/dev/null || true; echo "$1 $2"; } \
    > "$RECORD_FILE.tmp"
  mv "$RECORD_FILE.tmp" "$RECORD_FILE"
  say "$1 recorded as $2 in $RECORD_FILE"
}
record() { record_value "$1" "$(image_id "$1")"; }

# The platforms the layouts hold: linux/arm64 only where the kernel runs aarch64 programs
# through QEMU (binfmt_misc), since debootstrap's second stage runs them.
arm64_ready() {
  [ "${ARM64:-1}" != 0 ] && [ -r /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
    && grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64
}
if arm64_ready; then
  ARCHES="amd64 arm64"
elif [ "${ARM64:-1}" = 0 ]; then
  ARCHES="amd64"
  say "ARM64=0: the OCI layouts hold linux/amd64 only"
else
  ARCHES="amd64"
  say "warning: QEMU's binfmt handler for aarch64 is not registered" \
      "(/proc/sys/fs/binfmt_misc/qemu-aarch64), so the OCI layouts hold linux/amd64 only;" \
      "run 'sudo scripts/setup.sh --with docker' to register it and add linux/arm64"
fi

rootfs() {  # arch image include extras: debootstrap into $WORK/<arch>/<image>, prints the path
  local arch="$1" image="$2" include="$3" extras="$4"
  local root="$WORK/$arch/${image//[\/:]/_}" started=$SECONDS
  rm -rf "$root"
  mkdir -p "$root"
  say "debootstrap $SUITE $arch ($include) for $image" \
      "($([ "$arch" = amd64 ] && echo 'about a minute' || echo 'a few minutes under QEMU'))" >&2
  debootstrap --arch "$arch" --variant=minbase --include="$include" "$SUITE" "$root" "$MIRROR" \
      >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; die "debootstrap $arch failed for $image; full log in $root.log"; }
  chroot "$root" apt-get clean >&2
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
         "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/var/log/*
  "$extras" "$root" >&2
  rm -f "$root.log"
  say "debootstrap $arch for $image took $((SECONDS - started)) s" >&2
  printf '%s' "$root"
}

build() {  # image include extras: the Docker Engine image (amd64)
  local image="$1" include="$2" extras="$3"
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
  local root changes=()
  root="$(rootfs amd64 "$image" "$include" "$extras")"
  for var in "${ENV_VARS[@]}"; do changes+=(--change "ENV $var"); done
  tar -C "$root" --numeric-owner -c . | docker import "${changes[@]}" --change "CMD $CMD" - "$image" >/dev/null
  rm -rf "$root"
  say "$image built ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
  record "$image"
}

layout_stale() {  # image arches: why its OCI layout must be written ("" when it is current)
  local image="$1" arches="$2" key="oci:$1" dir present id digest expected
  dir="$(layout_dir "$image")"
  [ -n "${FORCE:-}" ] && { echo "FORCE=1"; return; }
  present="$(python3 "$HERE/oci_layout.py" inspect "$dir" 2>/dev/null || true)"
  [ -n "$present" ] || { echo "there is none"; return; }
  id="$(image_id "$image")"
  if [ "$(awk '$1 == "linux/amd64" { print $2 }' <<<"$present")" != "$id" ]; then
    echo "its linux/amd64 image is not the Docker image $image ($id)"; return
  fi
  if [[ " $arches " == *" arm64 "* ]] && ! grep -q '^linux/arm64 ' <<<"$present"; then
    echo "it has no linux/arm64 image"; return
  fi
  digest="$(awk '$1 == "digest" { print $2 }' <<<"$present")"
  expected="$(recorded_id "$key")"
  if [ -z "$expected" ] || [ -n "${RECORD:-}" ]; then
    record_value "$key" "$digest" >&2
  elif [ "$expected" != "$digest" ]; then
    say "warning: the layout $dir is $digest but $RECORD_FILE records $expected; builds" \
        "refuse it until 'FORCE=1 $0' rebuilds and records it or 'RECORD=1 $0' records it" >&2
  else
    say "$dir present ($digest, as recorded: $(awk '$1 != "digest" { printf "%s ", $1 }' <<<"$present" | sed 's/ $//'))" >&2
  fi
}

arm64_tar() {  # image include extras: the arm64 root file system as $WORK/arm64/<image>.tar
  local root tar="$WORK/arm64/${1//[\/:]/_}.tar"
  root="$(rootfs arm64 "$1" "$2" "$3")"
  tar -C "$root" --numeric-owner -c . > "$tar.tmp"
  mv "$tar.tmp" "$tar"
  rm -rf "$root"
}

write_layout() {  # image arches: the OCI layout (amd64 from the Docker image, arm64 from its tar)
  local image="$1" arches="$2" dir tmp digest args=() envs=()
  dir="$(layout_dir "$image")"
  tmp="$(mktemp -d "$WORK/save.XXXXXX")"
  docker save "$image" -o "$tmp/save.tar"
  args+=(--docker-save "linux/amd64=$tmp/save.tar")
  for var in "${ENV_VARS[@]}"; do envs+=(--env "$var"); done
  if [[ " $arches " == *" arm64 "* ]]; then
    args+=(--layer "linux/arm64=$WORK/arm64/${image//[\/:]/_}.tar")
  fi
  digest="$(python3 "$HERE/oci_layout.py" write "$dir" --ref "$image" "${envs[@]}" --cmd "$CMD" "${args[@]}")"
  rm -rf "$tmp" "$WORK/arm64/${image//[\/:]/_}.tar"
  say "$dir written ($digest: linux/${arches// /, linux/})"
  record_value "oci:$image" "$digest"
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

BASES=("$PYTHON_IMAGE|python3,python3-venv,ca-certificates|python_extras"
       "$NGINX_IMAGE|nginx-light,ca-certificates,curl|nginx_extras"
       "$REDIS_IMAGE|redis-server|redis_extras")
mkdir -p "$WORK/arm64"
# 1. The Docker images, one after the other.
for base in "${BASES[@]}"; do
  IFS='|' read -r image include extras <<<"$base"
  build "$image" "$include" "$extras"
done
# 2. The layouts to write, and their arm64 roots debootstrapped side by side under QEMU
# (minutes each; a CPU each). Redis is not a base BuildKit builds on: its layout holds
# linux/amd64 unless REDIS_ARM64=1.
stale_bases=() jobs=()
for base in "${BASES[@]}"; do
  IFS='|' read -r image include extras <<<"$base"
  arches="$ARCHES"
  if [ "$image" = "$REDIS_IMAGE" ] && [ "${REDIS_ARM64:-0}" != 1 ]; then arches="amd64"; fi
  why="$(layout_stale "$image" "$arches")"
  [ -n "$why" ] || continue
  say "writing the OCI layout of $image ($why)"
  stale_bases+=("$image|$arches")
  if [[ " $arches " == *" arm64 "* ]]; then
    arm64_tar "$image" "$include" "$extras" &
    jobs+=("$!|$image")
  fi
done
for job in "${jobs[@]}"; do
  wait "${job%%|*}" || die "the arm64 root of ${job#*|} failed (above)"
done
# 3. Each layout written and recorded.
for stale in "${stale_bases[@]}"; do
  write_layout "${stale%%|*}" "${stale#*|}"
done
