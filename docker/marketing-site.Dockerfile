# ironcage marketing site: the static site served by nginx.
#
# Build context: the repository root. `invoke build.images` first renders the site on the
# host (`ironcage-site build --out build/site/marketing-site --version X.Y.Z`); this image
# only copies that folder. Built by BuildKit's built-in dockerfile frontend.
ARG NGINX_BASE=nginx:1.27-bookworm

FROM ${NGINX_BASE}
# The commit's time (BuildKit passes it), declared before every RUN: a RUN step cached from
# another commit would keep files stamped older than this commit, which
# rewrite-timestamp leaves alone, so the digest would depend on the builder's cache.
ARG SOURCE_DATE_EPOCH
RUN groupadd --system --gid 10001 ironcage \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin ironcage
COPY docker/nginx/nginx.conf /etc/nginx/nginx.conf
COPY docker/nginx/entrypoint.sh /usr/local/bin/ironcage-nginx-entrypoint
COPY docker/nginx/marketing-site.conf.template /etc/nginx/ironcage/
COPY build/site/marketing-site/ /srv/www/

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/ironcage/ironcage
ARG LICENSES=Apache-2.0
ARG TITLE=ironcage/marketing-site
ARG DESCRIPTION="Ironcage marketing site: the static site served by nginx."
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
