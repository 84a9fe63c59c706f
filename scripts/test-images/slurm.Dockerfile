# Helper image for an emulated Slurm cluster in docker containers (tests/hpc, `make test-hpc`):
# Debian sid's Slurm (slurm-wlm 26.05) + munge on top of the Apptainer helper image, so that
# compute nodes run Apptainer jobs as user mspass (uid 1000). Not for users.
# Build (context: scripts/test-images/; needs mspass-apptainer:sid from `make apptainer-image`):
#   DOCKER_BUILDKIT=1 docker build -f scripts/test-images/slurm.Dockerfile -t mspass-slurm:sid scripts/test-images
# No key and no configuration are baked in: tests/hpc/slurm_cluster.py writes slurm.conf,
# cgroup.conf and one munge key into every container at run time.
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
# The harness starts the daemons itself (see tests/hpc/slurm_cluster.py); this just keeps
# the container up.
CMD ["sleep", "infinity"]
