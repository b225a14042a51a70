# ironcage agent runtime: the worker service that runs Python task steps in the sandbox.
#
# Build context: the repository root. `invoke build.images` first puts the wheels of
# ironcage-agent-runtime and ironcage-sandbox into build/wheelhouse/agent-runtime/, so the
# build installs from that folder only and never reaches an index:
#
#   docker build -f docker/agent-runtime.Dockerfile --build-arg VERSION=0.1.0 .
#
# Built by BuildKit's built-in dockerfile frontend (no `# syntax` line: nothing is pulled to
# parse it). PYTHON_BASE defaults to the public image; `invoke build.images` passes a local
# one when the public one cannot be pulled.
ARG PYTHON_BASE=python:3.11-slim-bookworm

# pip itself, in a virtualenv of its own: a tool of the build that never reaches the image
# (the builder mounts it), so its step is cached across commits.
FROM --platform=$BUILDPLATFORM ${PYTHON_BASE} AS pip
RUN python3 -m venv /opt/pip

# The wheels are pure Python: the virtualenv is made on the build platform (natively, not
# under emulation) and copied into each target platform's image, where its interpreter
# path is the same.
FROM --platform=$BUILDPLATFORM ${PYTHON_BASE} AS builder
ARG PYTHON_VERSION=0.1.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# The commit's time (BuildKit passes it), declared before every RUN. pip then writes
# hash-checked .pyc files instead of ones stamped with the install time; and a RUN step
# cached from another commit would keep files stamped older than this commit, which
# rewrite-timestamp leaves alone, so the digest would depend on the builder's cache.
ARG SOURCE_DATE_EPOCH
RUN python3 -m venv --without-pip /opt/venv
COPY build/wheelhouse/agent-runtime/ /wheels/
RUN --mount=type=bind,from=pip,source=/opt/pip,target=/opt/pip \
    /opt/pip/bin/pip --python /opt/venv/bin/python install --no-index --find-links /wheels \
      "ironcage-agent-runtime==${PYTHON_VERSION}"

FROM ${PYTHON_BASE}
# As in the builder: RUN steps are cached per commit time.
ARG SOURCE_DATE_EPOCH
RUN groupadd --system --gid 10001 ironcage \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin ironcage
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PORT=8080
COPY --from=builder /opt/venv /opt/venv

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/ironcage/ironcage
ARG LICENSES=Apache-2.0
ARG TITLE=ironcage/agent-runtime
ARG DESCRIPTION="Ironcage agent runtime: runs Python task steps in the sandbox under a time budget."
LABEL org.opencontainers.image.title="${TITLE}" \
      org.opencontainers.image.description="${DESCRIPTION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}"

USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=2)"]
CMD ["ironcage-agent-runtime"]
