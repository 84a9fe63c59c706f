# Helper image with Apptainer, for building and testing the SIF on machines without it
# (Debian ships Apptainer only in sid, whose libc a bookworm host must not get).
# Not for users. Build: make apptainer-image. No "# syntax=" line (no registry here).
ARG BASE_IMAGE=mspass-base:sid
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
# a mirror snapshot of sid may carry an expired Release file
RUN set -eux; \
    echo 'Acquire::Check-Valid-Until "false";' >/etc/apt/apt.conf.d/99mspass-no-valid-until; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        apptainer squashfuse fuse2fs fuse-overlayfs ca-certificates procps python3; \
    rm -rf /var/lib/apt/lists/*; \
    # root in an unprivileged container cannot keep Apptainer's default capabilities
    sed -i 's/^root default capabilities = .*/root default capabilities = no/' /etc/apptainer/apptainer.conf; \
    useradd --create-home --uid 1000 --shell /bin/bash mspass
CMD ["apptainer", "--version"]
