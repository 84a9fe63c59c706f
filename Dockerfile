# The MsPASS image: one image for every role (see README). Build it with `make build`.
#
# No "# syntax=" line on purpose: BuildKit would pull a frontend image from a registry.
# Stages: ferretdb-build (FerretDB from source, pure Go, on the build platform)
#         mspasspy-build (MsPASS's C++ and Python from its PyPI sdist into a wheel; throwaway,
#                         compilers stay here) -> mspasspy-wheel (just the wheel, for export)
#         python (system packages, virtualenv with the pinned Python stack)
#         -> mspasspy (the wheel, its Python dependencies and runtime libraries)
#         -> engine-mongodb | engine-ferretdb (MSPASS_DB_ENGINE) -> final (mspass_roles)
# Dependencies come before code, so a code change rebuilds only the last layers, and the
# MsPASS compile reruns only when its version, patches or build tools change.
#
# Extra CA for TLS-intercepting proxies: pass it as a BuildKit secret,
#   docker build --secret id=ca,src=/path/to/ca-bundle.crt .
# It is mounted only while a RUN step downloads and never stored in the image.

ARG BASE_IMAGE=debian:bookworm-slim
ARG MSPASS_DB_ENGINE=mongodb
# mspasspy from PyPI; "none": the slim image, for users who bring their own MsPASS
ARG MSPASS_VERSION=2.4.3

# ------------------------------------------------------------------ FerretDB from source
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS ferretdb-build
# bookworm's Go (1.19) is too old for FerretDB; this throwaway stage takes Go from the
# next Debian suite (assumes a Debian base, as the default is)
ARG GO_SUITE=trixie
ARG GO_PACKAGE=golang-1.24-go
RUN set -eux; \
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do \
        if [ -f "$f" ]; then sed -i "s/bookworm/${GO_SUITE}/g" "$f"; fi; \
    done; \
    apt-get update; \
    apt-get install -y --no-install-recommends "${GO_PACKAGE}" ca-certificates patch; \
    rm -rf /var/lib/apt/lists/*; \
    ln -s /usr/lib/go-*/bin/go /usr/local/bin/go
ARG TARGETOS
ARG TARGETARCH
ARG GOPROXY
ARG GOSUMDB
ARG FERRETDB_VERSION=v1.24.0
COPY scripts/build/ferretdb/ /src/ferretdb/
RUN --mount=type=secret,id=ca \
    --mount=type=cache,target=/root/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    if [ -f /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    if [ -z "${GOPROXY:-}" ]; then unset GOPROXY; fi; \
    if [ -z "${GOSUMDB:-}" ]; then unset GOSUMDB; fi; \
    GOOS="${TARGETOS}" GOARCH="${TARGETARCH}" GOTOOLCHAIN=local FERRETDB_VERSION="${FERRETDB_VERSION}" \
        /src/ferretdb/build-ferretdb.sh /out/ferretdb

# ------------------------------------------------------------------ mspasspy wheel (throwaway)
FROM ${BASE_IMAGE} AS mspasspy-pins
# only the build tools' pins: editing any other pin must not recompile MsPASS
COPY constraints.txt scripts/build/mspasspy/build-requirements.txt /pins/
RUN sed -e 's/^/^/' -e 's/$/==/' /pins/build-requirements.txt | grep -i -f - /pins/constraints.txt >/build-constraints.txt

FROM ${BASE_IMAGE} AS mspasspy-build
ARG MSPASS_VERSION
ARG PIP_INDEX_URL
COPY --from=mspasspy-pins /build-constraints.txt /src/
COPY scripts/build/mspasspy/ /src/mspasspy/
# byte-identical upstream archives for offline builds (SOURCE_CACHE; see README)
COPY scripts/build/source-cache/ /src/source-cache/
RUN --mount=type=secret,id=ca \
    --mount=type=cache,target=/root/.cache/pip \
    set -eu; \
    if [ "${MSPASS_VERSION}" != none ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends ca-certificates cmake g++ gfortran make patch pkg-config \
            python3-dev python3-venv libboost-serialization-dev libgsl-dev libyaml-cpp-dev liblapack-dev libblas-dev; \
    fi; \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    if [ -z "${PIP_INDEX_URL:-}" ]; then unset PIP_INDEX_URL; fi; \
    PIP_CONSTRAINT=/src/build-constraints.txt MSPASS_SOURCE_CACHE=/src/source-cache \
        /src/mspasspy/build-wheel.sh "${MSPASS_VERSION}" /wheels

# `make wheel` exports this stage: the wheel alone
FROM scratch AS mspasspy-wheel
COPY --from=mspasspy-build /wheels/ /

# ------------------------------------------------------------------ system + Python stack
FROM ${BASE_IMAGE} AS python
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    VIRTUAL_ENV=/opt/mspass/venv \
    PATH=/opt/mspass/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1
# Debian packages follow the base image's suite, so security updates apply; Python
# packages (constraints.txt), FerretDB and MongoDB are pinned exactly.
# The JRE is for Spark (pyspark); tini is PID 1; libnss-wrapper names a --user uid the
# image does not know (Java, hence Spark, cannot run without a user name).
RUN set -eux; \
    mkdir -p /usr/share/man/man1; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        python3 python3-venv tini openjdk-17-jre-headless ca-certificates procps patch libnss-wrapper; \
    rm -rf /var/lib/apt/lists/*
ARG PIP_INDEX_URL
# Only what decides the dependencies: a stub package and README stand in for the code and
# docs, which come later, so editing them does not reinstall the dependencies.
COPY pyproject.toml constraints.txt /src/
RUN --mount=type=secret,id=ca \
    --mount=type=cache,target=/root/.cache/pip \
    set -eu; \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    if [ -z "${PIP_INDEX_URL:-}" ]; then unset PIP_INDEX_URL; fi; \
    python3 -m venv "${VIRTUAL_ENV}"; \
    mkdir /src/mspass_roles; touch /src/mspass_roles/__init__.py /src/README.md; \
    pip install --disable-pip-version-check -c /src/constraints.txt pip setuptools wheel; \
    pip install --disable-pip-version-check -c /src/constraints.txt "/src[spark]"; \
    pip uninstall -y mspass-roles; \
    rm -rf /src

# ------------------------------------------------------------------ MsPASS itself
FROM python AS mspasspy
# the wheel (its compiled libraries inside; no compilers here) and its Python dependencies
# pinned by constraints.txt; nothing for MSPASS_VERSION=none
RUN --mount=type=bind,from=mspasspy-wheel,target=/wheels \
    --mount=type=bind,source=constraints.txt,target=/src/constraints.txt \
    --mount=type=secret,id=ca \
    --mount=type=cache,target=/root/.cache/pip \
    set -eu; \
    if ls /wheels/mspasspy-*.whl >/dev/null 2>&1; then \
        if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
        if [ -z "${PIP_INDEX_URL:-}" ]; then unset PIP_INDEX_URL; fi; \
        pip install --disable-pip-version-check -c /src/constraints.txt /wheels/mspasspy-*.whl; \
    fi
# upstream fixes to installed packages, each explained in its patch (Jupyter's start-up,
# no password in mspasspy's reprs): once everything is installed, so one step applies them all
COPY scripts/build/python/ /opt/mspass/python-patches/
RUN /opt/mspass/python-patches/apply-patches.sh python3 && rm -rf /opt/mspass/python-patches

# ------------------------------------------------------------------ database engines
FROM mspasspy AS engine-ferretdb
COPY --from=ferretdb-build /out/ferretdb /usr/local/bin/ferretdb

FROM mspasspy AS engine-mongodb
# MongoDB's own packages from MongoDB's public repository, as its installation guide for
# Debian 12 gives it (the official mongo image does the same on Ubuntu). Both are build
# arguments, for mirrors and other bases. MongoDB publishes 8.0 for Debian 12 on amd64
# only; an arm64 image needs an Ubuntu base and its repository line.
ARG MONGODB_VERSION=8.0.32
ARG MONGOSH_VERSION=2.14.0
# mongodump, mongorestore, mongoimport, mongoexport: MongoDB's database tools (mspass-db uses them)
ARG MONGODB_TOOLS_VERSION=100.17.0
ARG MONGODB_APT_SOURCE="http://repo.mongodb.org/apt/debian bookworm/mongodb-org/8.0 main"
ARG MONGODB_APT_KEY_URL=https://pgp.mongodb.com/server-8.0.asc
ARG TARGETARCH
RUN --mount=type=secret,id=ca \
    set -eu; \
    case "${MONGODB_APT_SOURCE}" in */debian\ *) \
        if [ "${TARGETARCH:-amd64}" != amd64 ]; then \
            echo "MongoDB publishes no ${TARGETARCH} packages for Debian (${MONGODB_APT_SOURCE});" \
                 "build arm64 with MSPASS_DB_ENGINE=ferretdb, or an Ubuntu BASE_IMAGE and MongoDB's Ubuntu repository" >&2; \
            exit 2; \
        fi;; \
    esac; \
    if [ -f /run/secrets/ca ]; then export CURL_CA_BUNDLE=/run/secrets/ca; fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends curl gnupg; \
    curl -fsSL "${MONGODB_APT_KEY_URL}" | gpg --dearmor -o /usr/share/keyrings/mongodb.gpg; \
    echo "deb [signed-by=/usr/share/keyrings/mongodb.gpg] ${MONGODB_APT_SOURCE}" >/etc/apt/sources.list.d/mongodb.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        "mongodb-org-server=${MONGODB_VERSION}" "mongodb-org-mongos=${MONGODB_VERSION}" \
        "mongodb-mongosh=${MONGOSH_VERSION}" "mongodb-database-tools=${MONGODB_TOOLS_VERSION}"; \
    apt-get purge -y --auto-remove curl gnupg; \
    rm -rf /var/lib/apt/lists/*

# ------------------------------------------------------------------ the image
FROM engine-${MSPASS_DB_ENGINE} AS final
COPY entrypoint/mspass-entrypoint /usr/local/bin/mspass-entrypoint
# /home is the work dir (MsPASS convention): mount notebooks there. Sticky and world
# writable like /tmp, so any --user can use it when nothing is mounted.
RUN chmod 1777 /home
COPY pyproject.toml README.md /src/
COPY mspass_roles /src/mspass_roles
RUN pip install --disable-pip-version-check --no-cache-dir --no-deps --no-build-isolation /src \
    && rm -rf /src

ARG MSPASS_DB_ENGINE
ARG MSPASS_VERSION
ARG VERSION=0.1.0
ARG VCS_REF=unknown
ARG SOURCE=
ARG BUILD_DATE=
LABEL org.opencontainers.image.title="mspass" \
      org.opencontainers.image.description="MsPASS virtual cluster: database, dask/Spark, JupyterLab; one role per container" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.licenses="BSD-3-Clause" \
      io.mspass.db-engine="${MSPASS_DB_ENGINE}" \
      io.mspass.mspasspy-version="${MSPASS_VERSION}"

WORKDIR /home
# Jupyter, dask scheduler and dashboard, database, Spark master and its web UI
EXPOSE 27017 8786 8787 7077 8888 8080 8081 7078 7079
# every 5 s, so `healthy` follows `ready` within 5 s: --quick reads the supervisor's answers
# from its last check (MSPASS_CHECK_INTERVAL) instead of asking again, about 0.2 s of CPU
# (a live check imports dask and pymongo: 1 s). Docker 20.10 rejects --start-interval.
HEALTHCHECK --interval=5s --timeout=10s --start-period=120s --retries=3 CMD ["mspass-role", "health", "--quick"]
ENTRYPOINT ["/usr/local/bin/mspass-entrypoint"]
