"""Smoke tests of the emulated Slurm cluster (tests/support/slurm.py): the harness that
the HPC tier submits MsPASS job scripts to. One cluster (ctl + c1..c3) serves the module."""

from __future__ import annotations


import pytest

from tests.support.prerequisites import require
from tests.hpc.conftest import NODES, SIF_DIR, SIF_NAME
from tests.support.slurm import SlurmCluster
from tests.support.wait import wait_until

pytestmark = pytest.mark.hpc

MSPASS_UID = 1000


def write_script(cluster: SlurmCluster, name: str, body: str) -> str:
    """A batch script on /shared (readable by the job's user); its path in the cluster."""
    path = cluster.shared / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return f"/shared/{name}"


def sleeping_on(cluster: SlurmCluster, node: str | None) -> bool:
    """Whether user mspass runs a `sleep` on the node (the containers' own `sleep infinity`
    runs as root)."""
    return node in NODES and cluster.exec(node, ["pgrep", "-u", "mspass", "-x", "sleep"], user="root")[0] == 0


def test_sinfo_shows_every_node_idle(cluster):
    assert cluster.node_states() == {name: "idle" for name in NODES}


def test_srun_on_three_nodes_as_mspass(cluster):
    code, out = cluster.exec("ctl", ["srun", "-N3", "hostname"], workdir="/shared")
    assert code == 0, out
    assert sorted(out.split()) == NODES


def test_batch_job_writes_to_shared(cluster):
    script = write_script(cluster, "hello.sh",
                          "#SBATCH --output=/shared/hello-%j.out\n"
                          'echo "hello from $(hostname) as $(id -un)" >/shared/hello-$SLURM_JOB_ID.txt\n')
    job = cluster.sbatch(script)
    assert cluster.wait_job(job, timeout=30) == ("COMPLETED", "0:0")
    result = cluster.shared / f"hello-{job}.txt"
    assert result.read_text().split()[-1] == "mspass"
    assert result.read_text().split()[2] in NODES
    assert result.stat().st_uid == MSPASS_UID


def test_failing_job_ends_failed_with_its_exit_code(cluster):
    script = write_script(cluster, "fail.sh", "#SBATCH --output=/shared/fail-%j.out\nexit 3\n")
    job = cluster.sbatch(script)
    assert cluster.wait_job(job, timeout=30) == ("FAILED", "3:0")


def test_scancel_kills_a_running_job(cluster):
    script = write_script(cluster, "sleep.sh", "#SBATCH --output=/shared/sleep-%j.out\nsleep 300\n")
    job = cluster.sbatch(script)
    # running, and its sleep process exists, so that scancel has something to kill
    wait_until(lambda: sleeping_on(cluster, cluster.job_info(job).get("NodeList")), 30,
               f"job {job} running a sleep", details=lambda: str(cluster.job_info(job)))
    cluster.scancel(job)
    wait_until(lambda: not cluster.squeue(), 20, "an empty queue",  # KillWait=10 at most
               details=lambda: str(cluster.squeue()))
    assert cluster.wait_job(job, timeout=10)[0] == "CANCELLED"
    assert not [name for name in NODES if sleeping_on(cluster, name)]


def test_apptainer_under_slurm_on_two_nodes(cluster):
    require((SIF_DIR / SIF_NAME).is_file(), f"the SIF {SIF_DIR / SIF_NAME}; run `make sif`")
    # stderr apart: Apptainer's INFO lines (e.g. "gocryptfs not found") go there
    script = write_script(cluster, "apptainer.sh",
                          "#SBATCH --nodes=2 --output=/shared/apptainer-%j.out --error=/shared/apptainer-%j.err\n"
                          f"srun -N2 apptainer exec --no-eval /sif/{SIF_NAME} hostname\n")
    job = cluster.sbatch(script)
    state = cluster.wait_job(job, timeout=120)
    out = (cluster.shared / f"apptainer-{job}.out").read_text()
    err = (cluster.shared / f"apptainer-{job}.err").read_text()
    assert state == ("COMPLETED", "0:0"), out + err
    names = out.split()
    assert len(names) == 2 and len(set(names)) == 2 and set(names) < set(NODES), out + err
