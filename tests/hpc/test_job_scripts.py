"""The HPC tier as a user meets it: copy the templates, edit the lines marked EDIT,
`sbatch job_script.sh workflow.ipynb` on the emulated Slurm cluster (ctl + c1..c3),
with the SIF run by Apptainer on the nodes."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.containers import IMAGE as MSPASS_IMAGE
from tests.support.prerequisites import require
from tests.hpc.conftest import NODES, SIF_DIR, SIF_NAME
from tests.support.hpc_jobs import prepare_run_dir
from tests.support.wait import wait_until

pytestmark = pytest.mark.hpc


@pytest.fixture
def run_dir(cluster, request):
    """A user's directory on the cluster file system with the edited templates and notebooks."""
    require((SIF_DIR / SIF_NAME).is_file(), f"the SIF {SIF_DIR / SIF_NAME}; run `make sif`")
    return prepare_run_dir(cluster.shared / request.node.name[:40], SIF_NAME,
                           ("mspass_workflow.ipynb", "roundtrip.ipynb", "failing.ipynb"))


def submit(cluster, run_dir, *args: str) -> int:
    return cluster.sbatch("job_script.sh", *args, workdir=f"/shared/{run_dir.name}")


def job_output(run_dir, job_id: int) -> str:
    out = run_dir / f"mspass_{job_id}.out"
    return out.read_text(errors="replace") if out.exists() else "(no job output)"


def mspass_processes(cluster) -> dict[str, str]:
    """What still runs as the job's user on each node."""
    found = {}
    for node in NODES:
        code, out = cluster.exec(node, ["pgrep", "-a", "-u", "mspass"], user="root")
        if code == 0:
            found[node] = out
    return found


def wait_until_nothing_runs(cluster, timeout: float) -> None:
    wait_until(lambda: not mspass_processes(cluster), timeout, "no process of the job's user on any node",
               interval=0.5, details=lambda: str(mspass_processes(cluster)))


def test_a_mspass_workflow_job_runs_on_the_nodes_and_ends_with_the_notebook(cluster, run_dir):
    job = submit(cluster, run_dir, "mspass_workflow.ipynb", "-p", "n_data", "24", "-p", "expect_workers", "2",
                 "-p", "seconds_per_datum", "0.2")
    state, code = cluster.wait_job(job, 400)
    assert (state, code) == ("COMPLETED", "0:0"), job_output(run_dir, job)
    assert job not in cluster.squeue()  # the job ended with the notebook, not at walltime

    summary = json.loads((run_dir / "mspass_workflow-summary.json").read_text())
    assert summary["hosts"] == ["c2", "c3"]  # the map ran in worker containers on two nodes
    assert summary["documents"] == 24 and summary["max_abs_difference"] < 1e-9
    assert (run_dir / "logs" / "mspass_workflow.executed.ipynb").exists()
    info = json.loads((run_dir / f"mspass-job-{job}.json").read_text())
    assert info["state"] == "ended" and info["nodes"] == NODES
    assert "mspass hpc: worker ready: worker on c2,c3" in job_output(run_dir, job)  # both workers' states
    # secure by default: dask went over TLS; the job's certificates went with it, the
    # database's password stays private beside its files for the next job on them
    assert info["scheduler"].startswith("tls://c1:")
    assert not (run_dir / f".mspass-job-{job}").exists()
    assert (run_dir / "db.password").stat().st_mode & 0o777 == 0o600
    assert (run_dir / "db").stat().st_mode & 0o777 == 0o700
    wait_until_nothing_runs(cluster, 30)


def test_a_failing_notebook_fails_the_job(cluster, run_dir):
    job = submit(cluster, run_dir, "failing.ipynb")
    state, code = cluster.wait_job(job, 300)
    assert state == "FAILED" and code != "0:0", job_output(run_dir, job)
    assert "deliberate failure 42" in (run_dir / "logs" / "failing.executed.ipynb").read_text()


def test_scancel_stops_every_container_on_every_node(cluster, run_dir):
    job = submit(cluster, run_dir, "roundtrip.ipynb", "-p", "n_tasks", "400", "-p", "task_seconds", "1")
    info = run_dir / f"mspass-job-{job}.json"

    def every_role_up() -> bool:
        assert cluster.job_info(job).get("JobState") in ("PENDING", "RUNNING"), job_output(run_dir, job)
        return info.exists() and json.loads(info.read_text())["state"] == "running"

    wait_until(every_role_up, 180, "job state 'running'", interval=0.5, details=lambda: job_output(run_dir, job))
    assert len(mspass_processes(cluster)) == 3  # containers run on every node

    cluster.scancel(job)
    assert cluster.wait_job(job, 120)[0] == "CANCELLED"
    wait_until_nothing_runs(cluster, 60)


def wait_for_jupyter(cluster, run_dir, job) -> tuple[str, str]:
    """Jupyter's port and token from the ssh tunnel an interactive job prints."""
    match = wait_until(lambda: re.search(r"ssh -N -J \S+ -L 8888:localhost:(\d+) -L 8787:localhost:\d+ (\w+)\n"
                                         r".*/lab\?token=([\w.~-]+)", job_output(run_dir, job)),
                       180, "the ssh tunnel in the job's output", interval=0.5,
                       details=lambda: job_output(run_dir, job))
    port, node, token = match.groups()
    assert node == "c1"
    return port, token


def test_an_interactive_job_prints_how_to_reach_jupyter(cluster, run_dir):
    job = submit(cluster, run_dir)  # no notebook: Jupyter until the job ends
    port, token = wait_for_jupyter(cluster, run_dir, job)
    check = ("import sys, urllib.request, urllib.error\n"
             f"req = urllib.request.Request('http://c1:{port}/api/status', headers={{'Authorization': sys.argv[1]}})\n"
             "try:\n    print(urllib.request.urlopen(req, timeout=10).status)\n"
             "except urllib.error.HTTPError as err:\n    print(err.code)")
    # from another machine of the cluster, as the tunnel would
    assert cluster.exec("ctl", ["python3", "-c", check, f"token {token}"])[1].strip() == "200"
    assert cluster.exec("ctl", ["python3", "-c", check, "token wrong"])[1].strip() == "403"
    cluster.scancel(job)
    assert cluster.wait_job(job, 120)[0] == "CANCELLED"
    wait_until_nothing_runs(cluster, 60)


INTRUDER = """
import json, sys, urllib.error, urllib.request
import pymongo
from distributed import Client
from pymongo.errors import OperationFailure

db, scheduler, jupyter = sys.argv[1:4]
found = {}
client = pymongo.MongoClient(f"mongodb://{db}/", serverSelectionTimeoutMS=10000)
for what, action in (("read", client.list_database_names), ("write", lambda: client.x.y.insert_one({}))):
    try:
        action()
        found["db " + what] = "allowed"
    except OperationFailure as err:
        found["db " + what] = f"refused {err.code}"
for scheme in ("tcp", "tls"):
    try:
        with Client(f"{scheme}://{scheduler}", timeout=10, set_as_default=False) as dask:
            found["dask " + scheme] = f"allowed {dask.submit(sum, [1, 2]).result()}"
    except Exception as err:
        found["dask " + scheme] = "refused"
try:
    found["jupyter"] = f"allowed {urllib.request.urlopen(f'http://{jupyter}/api/status', timeout=10).status}"
except urllib.error.HTTPError as err:
    found["jupyter"] = f"refused {err.code}"
print(json.dumps(found))
"""


def test_another_user_on_a_node_of_the_job_reaches_none_of_its_services(cluster, run_dir):
    for node in ["ctl", *NODES]:  # another user of the cluster, with the same SIF at hand
        cluster.exec(node, "id intruder || useradd --create-home --uid 1001 intruder", user="root")
    job = submit(cluster, run_dir)  # interactive: the services run until scancel
    try:
        intrude(cluster, run_dir, job)
    finally:
        cluster.scancel(job)
    assert cluster.wait_job(job, 120)[0] == "CANCELLED"
    wait_until_nothing_runs(cluster, 60)
    assert not (run_dir / f".mspass-job-{job}").exists()  # the job's certificates are gone


def intrude(cluster, run_dir, job: int) -> None:
    wait_for_jupyter(cluster, run_dir, job)
    info = json.loads((run_dir / f"mspass-job-{job}.json").read_text())
    script = run_dir / "intruder.py"
    script.write_text(INTRUDER)
    script.chmod(0o644)

    code, out = cluster.exec("c2", ["apptainer", "exec", "--no-eval", "--bind", "/shared", f"/sif/{SIF_NAME}",
                                    "python3", str(
        f"/shared/{run_dir.name}/intruder.py"), info["db"].split("//")[1].rstrip("/"),
        info["scheduler"].split("//")[1], info["jupyter"].split("//")[1].removesuffix("/lab")], user="intruder")
    assert code == 0, out
    # its one line of JSON (a failed dask Client may print a traceback when collected, at exit)
    found = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert found == {"db read": "refused 13", "db write": "refused 13", "dask tcp": "refused",
                     "dask tls": "refused", "jupyter": "refused 403"}, out
    # nor the credentials' files, nor the database's
    for command, path in (("cat", f".mspass-job-{job}/tls/tls.key"), ("cat", "db.password"), ("ls", "db")):
        code, out = cluster.exec("c2", [command, f"/shared/{run_dir.name}/{path}"], user="intruder")
        assert code != 0 and "Permission denied" in out, (path, out)


def test_a_sharded_job_runs_a_shard_on_each_other_node_or_fails_clearly_without_mongodb(cluster, docker, request):
    """run_mspass_sharded.sh as MSPASS_RUNSCRIPT: with a SIF of the MongoDB image the
    workflow completes over shards on c2 and c3; with FerretDB's (this project's CI) the job
    fails, saying the engine cannot shard and what to do."""
    require((SIF_DIR / SIF_NAME).is_file(), f"the SIF {SIF_DIR / SIF_NAME}; run `make sif`")
    run_dir = prepare_run_dir(cluster.shared / request.node.name[:40], SIF_NAME, ("mspass_workflow.ipynb",),
                              runscript="run_mspass_sharded.sh")
    job = submit(cluster, run_dir, "mspass_workflow.ipynb", "-p", "n_data", "12", "-p", "drop_first", "False")
    state, code = cluster.wait_job(job, 400)
    output = job_output(run_dir, job)
    assert "the sharded database has no login" in output  # said before anything starts
    if docker.images.get(MSPASS_IMAGE).labels.get("io.mspass.db-engine") == "mongodb":  # the SIF's source
        assert (state, code) == ("COMPLETED", "0:0"), output
        assert json.loads((run_dir / "mspass_workflow-summary.json").read_text())["documents"] == 12
        assert sorted(p.name for p in (run_dir / "db").iterdir() if p.name.startswith("shard-")) == \
            ["shard-rs1", "shard-rs2"]
    else:
        assert state == "FAILED", output
        assert "needs a database engine that can shard" in output and "MSPASS_DB_ENGINE=mongodb" in output, output
    wait_until_nothing_runs(cluster, 60)

