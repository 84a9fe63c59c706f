"""HPCClusterLauncher as MsPASS's 2025 course uses it: a job script that loads Python 3.9 and
runs a `python3` here-document building the launcher from HPCClusterLauncher.yaml in the
submit directory and calling run(NOTEBOOK). Only the import line differs from the course's
(mspass_roles.hpc instead of mspass_launcher.hpc); the job's exit code is the notebook's."""

from __future__ import annotations

import json
import re

import pytest

from tests.hpc.conftest import SIF_DIR, SIF_NAME
from tests.hpc.test_job_scripts import wait_until_nothing_runs
from tests.support.hpc_jobs import prepare_run_dir
from tests.support.prerequisites import require
from tests.support.wait import wait_until
from tests.support.workflow import check

pytestmark = pytest.mark.hpc

#: the course's job script; `module load python3/3.9.2` is a PATH here, and the checkout
#: on PYTHONPATH replaces `pip install --user mspass_launcher`
COURSE_JOB = """\
#!/bin/bash
#SBATCH -J mspass
#SBATCH -o mspass.o%j
#SBATCH -N 2
#SBATCH -n 2
#SBATCH -t 00:10:00
export PATH=/opt/python3.9/bin:$PATH
export PYTHONPATH=/opt/mspass
python3 --version

python3 << EOI
import time
from mspass_roles.hpc import HPCClusterLauncher
t0=time.time()
launcher = HPCClusterLauncher(verbose=True)
launcher.run("{notebook}")
print("Execution time for this workflow=",time.time()-t0)
EOI
"""

CONFIGURATION = """\
container: /sif/{sif}
working_directory: {run}
log_directory: {run}/logs
database_directory: {run}/db
worker_directory: {run}/work
workers_per_node: 2
primary_node_workers: 1
db_startup_delay: 10
HPC_cluster:
    primary_host: auto
    database_host: auto
    scheduler_host: auto
    worker_hosts: auto
    job_scheduler: slurm
    task_scheduler: dask
    container_run_command: apptainer run
    container_run_args: -B /shared
    setup_tunnel: false
"""


@pytest.fixture
def course_dir(cluster, request):
    require((SIF_DIR / SIF_NAME).is_file(), f"the SIF {SIF_DIR / SIF_NAME}; run `make sif`")
    name = request.node.callspec.id if hasattr(request.node, "callspec") else "interactive"
    run_dir = prepare_run_dir(cluster.shared / f"course-{name}", SIF_NAME,
                              ("mspass_workflow.ipynb", "failing.ipynb"), scripts=())
    (run_dir / "HPCClusterLauncher.yaml").write_text(CONFIGURATION.format(sif=SIF_NAME, run=f"/shared/{run_dir.name}"))
    # run() takes no parameters: the workflow's own defaults, set for this layout's 3 workers
    workflow = run_dir / "mspass_workflow.ipynb"
    notebook = json.loads(workflow.read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"])
    for old, new in (("expect_workers = 1 ", "expect_workers = 3 "), ("seconds_per_datum = 0.0 ", "seconds_per_datum = 0.5 ")):
        assert old in source
        source = source.replace(old, new)
    cell["source"] = source
    workflow.write_text(json.dumps(notebook))
    return run_dir


def submit(cluster, run_dir, notebook: str, job: str = COURSE_JOB) -> int:
    script = run_dir / "course.job"
    script.write_text(job.format(notebook=notebook))
    return cluster.sbatch("course.job", workdir=f"/shared/{run_dir.name}")


@pytest.mark.parametrize("notebook", ["mspass_workflow.ipynb", "failing.ipynb"])
def test_the_course_job_script_runs_the_notebook_on_python_39_and_ends_with_its_exit_code(cluster, course_dir,
                                                                                          notebook):
    job = submit(cluster, course_dir, notebook)
    state, code = cluster.wait_job(job, 400)
    out = (course_dir / f"mspass.o{job}").read_text(errors="replace")
    assert "Python 3.9." in out, out  # the launcher ran on the node's Python 3.9
    # the one key it cannot honour, said once
    assert out.count("WARNING: db_startup_delay in HPCClusterLauncher.yaml is ignored") == 1, out
    if notebook == "failing.ipynb":
        assert state == "FAILED" and code != "0:0", out
        assert "deliberate failure 42" in (course_dir / "logs" / "failing.executed.ipynb").read_text()
        assert "a run failed with exit code" in out
    else:
        assert (state, code) == ("COMPLETED", "0:0"), out
        assert "Execution time for this workflow=" in out
        summary = json.loads((course_dir / "mspass_workflow-summary.json").read_text())
        # one worker process beside the notebook on the first node, two on the second, one thread each
        assert summary["documents"] == 24 and summary["hosts"] == ["c1", "c2"] and len(summary["workers"]) == 3
        check(summary, 24)
    info = json.loads(next(course_dir.glob("mspass-job-*.json")).read_text())
    assert info["state"] == "ended"  # shutdown at exit: every container stopped, the database last, cleanly
    assert out.index("mspass hpc: db stopped (exit code 0") > out.index("mspass hpc: worker stopped (exit code 0")
    wait_until_nothing_runs(cluster, 60)


def test_an_interactive_session_says_how_to_reach_jupyter_at_once(cluster, course_dir):
    interactive = COURSE_JOB.replace('launcher.run("{notebook}")', "launcher.interactive_session()")
    job = submit(cluster, course_dir, "", interactive)
    out = course_dir / f"mspass.o{job}"
    # while Jupyter runs, not once it has ended (mspass-launcher 0.1.1)
    match = wait_until(lambda: re.search(r"ssh -N -J \S+ -L 8888:localhost:(\d+) -L 8787:localhost:\d+ (\w+)\n"
                                         r".*/lab\?token=([\w.~-]+)", out.read_text() if out.exists() else ""),
                       180, "the ssh tunnel in the job's output", interval=0.5,
                       details=lambda: out.read_text() if out.exists() else "(no output)")
    port, node, token = match.groups()
    check = ("import sys, urllib.request\n"
             f"req = urllib.request.Request('http://{node}:{port}/api/status', headers={{'Authorization': sys.argv[1]}})\n"
             "print(urllib.request.urlopen(req, timeout=10).status)")
    assert cluster.exec("ctl", ["python3", "-c", check, f"token {token}"])[1].strip() == "200"
    # the course's script is bash running python: scancel ends it, and Slurm every step
    cluster.scancel(job)
    assert cluster.wait_job(job, 120)[0] == "CANCELLED"
    wait_until_nothing_runs(cluster, 120)
