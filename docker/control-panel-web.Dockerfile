# ironcage control panel front end: the static web UI served by nginx, /api/ proxied to the
# API. The API's host:port comes from API_UPSTREAM at run time (default
# control-panel-api:8000, the compose service name):
#
#   docker run -e API_UPSTREAM=api.internal:8000 -p 8080:8080 ironcage/control-panel-web
#
# Build context: the repository root. Built by BuildKit's built-in dockerfile frontend.
# NGINX_BASE defaults to the public image; `invoke build.images` passes a local one (Debian's
# nginx-light) when the public one cannot be pulled: the nginx.conf works with both.
ARG NGINX_BASE=nginx:1.27-bookworm

FROM ${NGINX_BASE}
# The commit's time (BuildKit passes it), declared before every RUN: a RUN step cached from
# another commit would keep files stamped older than this commit, which
# rewrite-timestamp leaves alone, so the digest would depend on the builder's cache.
ARG SOURCE_DATE_EPOCH
RUN groupadd --system --gid 10001 ironcage \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin ironcage
ENV API_UPSTREAM=control-panel-api:8000
COPY docker/nginx/nginx.conf /etc/nginx/nginx.conf
COPY docker/nginx/entrypoint.sh /usr/local/bin/ironcage-nginx-entrypoint
COPY docker/nginx/control-panel-web.conf.template /etc/nginx/ironcage/
COPY packages/control-panel/web/ /srv/www/

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/ironcage/ironcage
ARG LICENSES=Apache-2.0
ARG TITLE=ironcage/control-panel-web
ARG DESCRIPTION="Ironcage control panel web UI: static front end served by nginx, /api/ proxied to the API."
ENV IRONCAGE_VERSION=${VERSION}
LABEL org.opencontainers.image.title="${TITLE}" \
      org.opencontainers.image.description="${DESCRIPTION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}"

USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "--fail", "--silent", "--show-error", "--output", "/dev/null", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/bin/sh", "/usr/local/bin/ironcage-nginx-entrypoint"]
CMD ["nginx", "-g", "daemon off;"]
