#!/bin/sh
# Render the server blocks of /etc/nginx/ironcage/*.conf.template into /tmp/nginx/conf.d/,
# then run the command (nginx in the foreground). Placeholders:
#   @VERSION@       the image version (IRONCAGE_VERSION, set when the image is built)
#   @API_UPSTREAM@  host:port of the control panel API (API_UPSTREAM, default
#                   control-panel-api:8000, the compose service name)
set -eu

version="${IRONCAGE_VERSION:-unknown}"
upstream="${API_UPSTREAM:-control-panel-api:8000}"
case "$upstream" in
  *[!A-Za-z0-9.:-]* | "" | :* | *:)
    echo "ironcage-nginx: API_UPSTREAM must be host:port, got '$upstream'" >&2
    exit 64
    ;;
esac
case "$version" in
  *[!A-Za-z0-9.+-]*)
    echo "ironcage-nginx: IRONCAGE_VERSION holds unexpected characters: '$version'" >&2
    exit 64
    ;;
esac

mkdir -p /tmp/nginx/conf.d
for template in /etc/nginx/ironcage/*.conf.template; do
  name="$(basename "$template" .template)"
  sed -e "s|@VERSION@|$version|g" -e "s|@API_UPSTREAM@|$upstream|g" \
    "$template" > "/tmp/nginx/conf.d/$name"
done

exec "$@"
