# Helper image for an emulated Slurm cluster in docker containers (tests/hpc, `make test-hpc`):
# Debian sid's Slurm (slurm-wlm 26.05) + munge on top of the Apptainer helper image, so that
# compute nodes run Apptainer jobs as user mspass (uid 1000). Not for users.
# Also bullseye's Python 3.9 and OpenSSH, for job scripts that use both on a cluster.
# Build (context: scripts/test-images/; needs mspass-apptainer:sid from `make apptainer-image`):
#   DOCKER_BUILDKIT=1 docker build -f scripts/test-images/slurm.Dockerfile -t mspass-slurm:sid scripts/test-images
# No key and no configuration are baked in: tests/support/slurm.py writes slurm.conf,
# cgroup.conf, one munge key, ssh host keys and one ssh user key into every container at
# run time.
# No "# syntax=" line (no registry here).
ARG BASE_IMAGE=mspass-apptainer:sid
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
# The base image already allows an expired Release file (mirror snapshots of sid).
# munge's maintainer scripts may generate a key: remove any, so that no image carries a key
# and the harness's key is the only one. Daemons are not started here (policy-rc.d).
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        slurmctld slurmd slurm-client munge procps iproute2; \
    rm -rf /var/lib/apt/lists/*; \
    rm -f /etc/munge/munge.key; \
    mkdir -p /var/log/slurm /var/spool/slurmctld /var/spool/slurmd /run/munge; \
    chown munge:munge /run/munge
# Python 3.9 as on the target clusters (`module load python3/3.9.2`): bullseye's python3.9
# next to sid's default python3, from a bullseye entry derived from the sid one (no mirror
# name written here), pinned to 1 so that bullseye only supplies what sid lacks (python3.9
# and its libssl1.1, libffi7, libmpdec3). /opt/python3.9/bin is what tests put first on PATH.
# ssh between the containers (ctl = login node): the package's postinst generates host
# keys; remove them, tests/support/slurm.py makes host and user keys per cluster.
ARG PY39_SUITE=bullseye
RUN set -eux; \
    sed "s/^Suites: .*/Suites: ${PY39_SUITE}/" /etc/apt/sources.list.d/debian.sources \
        >/etc/apt/sources.list.d/${PY39_SUITE}.sources; \
    printf 'Package: *\nPin: release n=%s\nPin-Priority: 1\n' "${PY39_SUITE}" \
        >/etc/apt/preferences.d/${PY39_SUITE}; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3.9 openssh-server openssh-client; \
    rm -rf /var/lib/apt/lists/*; \
    rm -f /etc/ssh/ssh_host_*; \
    mkdir -p /opt/python3.9/bin /run/sshd; \
    ln -s /usr/bin/python3.9 /opt/python3.9/bin/python3; \
    ln -s /usr/bin/python3.9 /opt/python3.9/bin/python3.9; \
    /opt/python3.9/bin/python3 -c 'import ssl, sqlite3, sys; assert sys.version_info[:2] == (3, 9)'; \
    python3 --version | grep -v ' 3\.9\.'
# The harness starts the daemons itself (see tests/support/slurm.py); this just keeps
# the container up.
CMD ["sleep", "infinity"]
