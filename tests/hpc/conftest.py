"""The emulated Slurm cluster (ctl + c1..c3) shared by the HPC tests: the SIF at /sif, this
checkout read-only at /opt/mspass (the templates and the launcher), /shared as the
cluster file system."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.prerequisites import require
from tests.support.slurm import IMAGE, SlurmCluster

SIF_DIR = Path(os.environ.get("SIF_DIR", REPO / "build"))
SIF_NAME = os.environ.get("SIF_NAME", "mspass_latest.sif")
NODES = ["c1", "c2", "c3"]


@pytest.fixture(scope="session")
def slurm(docker, tmp_path_factory):
    from docker.errors import ImageNotFound

    try:
        docker.images.get(IMAGE)
    except ImageNotFound:
        require(False, f"the image {IMAGE}; run `make apptainer-image` then "
                       "`DOCKER_BUILDKIT=1 docker build -f scripts/test-images/slurm.Dockerfile -t mspass-slurm:sid scripts/test-images`")
    # bind the SIF dir only when the SIF is there (docker would create a missing source dir)
    binds = {str(REPO): "/opt/mspass"}
    if (SIF_DIR / SIF_NAME).is_file():
        binds[str(SIF_DIR)] = "/sif"
    with SlurmCluster(docker, nodes=len(NODES), shared=tmp_path_factory.mktemp("hpc-shared"), binds=binds) as cluster:
        yield cluster


@pytest.fixture
def cluster(slurm, request):
    """The module's cluster; prints every daemon log when the test failed."""
    yield slurm
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(slurm.logs())
