# A GitHub runner stand-in for act: Debian with git, node (for the JavaScript actions), the
# docker client, and the base image's Python registered in the tool cache where
# actions/setup-python looks for it; the build context's toolcache/ (helm, so that
# azure/setup-helm finds it there instead of downloading it) is added to that tool cache.
# The certificate authorities of the context's certificates/*.crt (the host's own, when it
# has extra ones) are trusted too.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
COPY certificates/ /usr/local/share/ca-certificates/
COPY toolcache/ /opt/hostedtoolcache/
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      git nodejs ca-certificates curl xz-utils unzip docker.io >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && update-ca-certificates >/dev/null
RUN version="$(python3 -c 'import platform; print(platform.python_version())')" \
 && mkdir -p "/opt/hostedtoolcache/Python/$version/x64/bin" \
 && for name in python python3 python3.11; do \
      ln -s "$(command -v python3)" "/opt/hostedtoolcache/Python/$version/x64/bin/$name"; \
    done \
 && touch "/opt/hostedtoolcache/Python/$version/x64.complete"
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
