"""The HPC tier as a user meets it: copy the templates, edit the lines marked EDIT,
`sbatch job_script.sh workflow.ipynb` on the emulated Slurm cluster (ctl + c1..c3),
with the SIF run by Apptainer on the nodes."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.support.containers import IMAGE as MSPASS_IMAGE
from tests.support.prerequisites import require
from tests.hpc.conftest import NODES, SIF_DIR, SIF_NAME
from tests.support.hpc_jobs import prepare_run_dir
from tests.support.paths import REPO
from tests.support.wait import wait_until
from tests.support.workflow import check

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
    # Slurm made it with the submitter's umask (022 here): the token in it is theirs alone
    assert (run_dir / f"mspass_{job}.out").stat().st_mode & 0o777 == 0o600
    check = ("import sys, urllib.request, urllib.error\n"
             f"req = urllib.request.Request('http://c1:{port}/api/status', headers={{'Authorization': sys.argv[1]}})\n"
             "try:\n    print(urllib.request.urlopen(req, timeout=10).status)\n"
             "except urllib.error.HTTPError as err:\n    print(err.code)")
    # from another machine of the cluster, as the tunnel would
    assert cluster.exec("ctl", ["python3", "-c", check, f"token {token}"])[1].strip() == "200"
    assert cluster.exec("ctl", ["python3", "-c", check, "token wrong"])[1].strip() == "403"
    # the README's clean stop: SIGTERM to the launcher only, which stops every role in order
    code, out = cluster.exec("ctl", ["scancel", "--batch", "--signal=TERM", str(job)])
    assert code == 0, out
    assert cluster.wait_job(job, 120) == ("COMPLETED", "0:0"), job_output(run_dir, job)
    assert re.findall(r"mspass hpc: (\S+) stopped \(exit code (\d+)", job_output(run_dir, job)) == [
        ("frontend", "0"), ("worker", "0"), ("scheduler", "0"), ("db", "0")], job_output(run_dir, job)
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
    run_dir = prepare_run_dir(cluster.shared / request.node.name[:40], SIF_NAME, ("mspass_workflow.ipynb",))
    # the guide's way to choose another run script: from the environment, over mspass_setup.sh's default
    job = cluster.sbatch("job_script.sh", "mspass_workflow.ipynb", "-p", "n_data", "12", "-p", "drop_first", "False",
                         env={"MSPASS_RUNSCRIPT": "/opt/mspass/scripts/template/run_mspass_sharded.sh"},
                         workdir=f"/shared/{run_dir.name}")
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



# ---------------------------------------------------------------------- MsPASS's HPC guide
#: mspass_setup.sh as MsPASS's HPC guide prints it (deploy_mspass_on_hpc.rst), this cluster's
#: paths on the site-specific lines: MSPASS_HOME=~/mspass with the SIF under containers/, and
#: the run script copied into the work directory
GUIDE_SETUP = """\
#! /bin/bash

# See User's Manual for more guidance on setting these variables
export MSPASS_HOME=~/mspass
export MSPASS_CONTAINER=${{MSPASS_HOME}}/containers/mspass_latest.sif
export SINGULARITY_BIND=/shared

export MSPASS_WORK_DIR={run}
export MSPASS_DB_DIR={run}/db
export MSPASS_LOG_DIR={run}/logs
export MSPASS_WORKER_DIR={run}/work

export HOSTNAME_BASE="cluster.example.edu"

if [ -z $MSPASS_RUNSCRIPT ] ; then
  export MSPASS_RUNSCRIPT={run}/run_mspass.sh
fi
"""


def guide_home(cluster) -> None:
    """~/mspass on every node as the guide has it: this checkout, the SIF in containers/."""
    for node in NODES:
        code, out = cluster.exec(node, "mkdir -p ~/mspass/containers && "
                                       f"ln -sfn /sif/{SIF_NAME} ~/mspass/containers/mspass_latest.sif && "
                                       "ln -sfn /opt/mspass/mspass_roles ~/mspass/mspass_roles && "
                                       "ln -sfn /opt/mspass/scripts ~/mspass/scripts")
        assert code == 0, out


def open_tunnel(cluster, command: str) -> None:
    """The printed ssh command, run on ctl as the user's computer would (-f: once forwarding works)."""
    words = command.split()
    assert words[:2] == ["ssh", "-N"], command
    # stderr to a file: the jump's helper would keep docker exec's output open
    code, out = cluster.exec("ctl", "ssh -f -o ExitOnForwardFailure=yes " + " ".join(words[1:]) + " 2>/tmp/tunnel.err"
                             " || { cat /tmp/tunnel.err; exit 1; }")
    assert code == 0, out


def fetch(cluster, url: str) -> str:
    code, out = cluster.exec("ctl", ["python3", "-c", "import sys, urllib.request\n"
                                     "print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())", url])
    assert code == 0, out
    return out


def test_the_guides_setup_script_runs_the_workflow_and_the_printed_tunnel_reaches_the_dashboard(cluster, run_dir):
    guide_home(cluster)
    run = f"/shared/{run_dir.name}"
    (run_dir / "mspass_setup.sh").write_text(GUIDE_SETUP.format(run=run))
    shutil.copy(REPO / "scripts" / "template" / "run_mspass.sh", run_dir)  # the guide keeps a copy there
    for path in (run_dir / "mspass_setup.sh", run_dir / "run_mspass.sh"):
        shutil.chown(path, 1000, 1000)
    # the login node, by the full name the job prints (HOSTNAME_BASE)
    cluster.exec("ctl", "echo \"$(getent hosts ctl | cut -d' ' -f1) ctl.cluster.example.edu\" >>/etc/hosts",
                 user="root")
    job = submit(cluster, run_dir, "mspass_workflow.ipynb", "-p", "n_data", "24", "-p", "expect_workers", "2",
                 "-p", "seconds_per_datum", "2")
    # a batch job says how to watch its dashboard while it runs
    match = wait_until(lambda: re.search(r"\n    (ssh -N -J (\S+) -L 8787:localhost:\d+ (\w+))\n"
                                         r"  then open (http://localhost:8787/status)", job_output(run_dir, job)),
                       240, "the dashboard's ssh tunnel in the job's output", interval=0.5,
                       details=lambda: job_output(run_dir, job))
    command, login, node, url = match.groups()
    assert (login, node) == ("ctl.cluster.example.edu", "c1")
    try:
        open_tunnel(cluster, command)
        page = fetch(cluster, url)
    finally:
        cluster.exec("ctl", ["pkill", "-u", "mspass", "-x", "ssh"])
    assert "<title>Dask" in page, page[:2000]

    state, code = cluster.wait_job(job, 400)
    assert (state, code) == ("COMPLETED", "0:0"), job_output(run_dir, job)
    summary = json.loads((run_dir / "mspass_workflow-summary.json").read_text())
    assert check(summary, 24)["hosts"] == ["c2", "c3"]
    # the dashboard link the notebook showed is the page the printed tunnel reached
    assert summary["components"]["dashboard_link"] == url
    assert (run_dir / "logs" / "mspass_workflow.executed.ipynb").exists()
    info = json.loads((run_dir / f"mspass-job-{job}.json").read_text())
    assert info["state"] == "ended" and info["nodes"] == NODES
    assert info["tunnel"] == [command] and info["dashboard"].startswith("http://c1:")
    assert "mspass hpc: worker ready: worker on c2,c3" in job_output(run_dir, job)  # both workers' states
    # secure by default: dask went over TLS; the job's certificates went with it, the
    # database's password stays private beside its files for the next job on them
    assert info["scheduler"].startswith("tls://c1:")
    assert not (run_dir / f".mspass-job-{job}").exists()
    assert (run_dir / "db.password").stat().st_mode & 0o777 == 0o600
    assert (run_dir / "db").stat().st_mode & 0o777 == 0o700
    # every role stopped by its own supervisor (not srun's SIGKILL), the database last and cleanly
    assert re.findall(r"mspass hpc: (\S+) stopped \(exit code (\d+)", job_output(run_dir, job)) == [
        ("worker", "0"), ("scheduler", "0"), ("db", "0")]
    assert "mspass db: db stopped (exit code 0" in (run_dir / "logs" / f"hpc-{job}-db.out").read_text()
    # the host's MSPASS_HOME (the checkout) stayed out of the containers: MsPASS found its own schema
    executed = (run_dir / "logs" / "mspass_workflow.executed.ipynb").read_text()
    assert "MSPASS_HOME = /home/mspass/mspass" not in executed and "MSPASS_HOME = " in executed
    wait_until_nothing_runs(cluster, 60)


def test_single_node_sh_runs_by_sbatch_and_sourced_in_an_interactive_allocation(cluster, request):
    require((SIF_DIR / SIF_NAME).is_file(), f"the SIF {SIF_DIR / SIF_NAME}; run `make sif`")
    run_dir = prepare_run_dir(cluster.shared / request.node.name[:40], SIF_NAME, ("mspass_workflow.ipynb",),
                              scripts=("single_node.sh",))
    workdir = f"/shared/{run_dir.name}"
    job = cluster.sbatch("single_node.sh", "mspass_workflow.ipynb", "-p", "n_data", "12", "-p", "summary_name",
                         "sbatch-summary.json", workdir=workdir)  # Slurm runs a spooled copy of it
    state, code = cluster.wait_job(job, 400)
    assert (state, code) == ("COMPLETED", "0:0"), job_output(run_dir, job)
    summary = json.loads((run_dir / "sbatch-summary.json").read_text())
    assert summary["documents"] == 12 and summary["hosts"] == [cluster.job_info(job)["NodeList"]]

    # salloc's shell sources it: the notebook runs, then the shell goes on with its own options
    code, out = cluster.exec("ctl", ["salloc", "-N1", "bash", "-c",
                                     "source ./single_node.sh mspass_workflow.ipynb -p n_data 6 -p summary_name "
                                     "sourced-summary.json; echo \"after: $? options: $-\""], workdir=workdir)
    assert code == 0, out
    after = re.search(r"after: (\d+) options: (\w+)", out)
    assert after and after.group(1) == "0" and not set("eu") & set(after.group(2)), out
    assert json.loads((run_dir / "sourced-summary.json").read_text())["documents"] == 6
    wait_until_nothing_runs(cluster, 60)


def test_a_dedicated_scheduler_node_with_uneven_worker_counts_and_a_reverse_tunnel(cluster, run_dir):
    """The layout, and the guide's answer for sites without ssh to compute nodes: the job
    opens the tunnel to the login node (ctl here), the user forwards to the login node only."""
    layout = "--primary 1 --scheduler-node 0 --db-node 0 --primary-workers 1 --workers-per-node 2 --threads-per-worker 1"
    job = cluster.sbatch("job_script.sh", "mspass_workflow.ipynb", "-p", "n_data", "24", "-p", "expect_workers", "3",
                         "-p", "seconds_per_datum", "1", workdir=f"/shared/{run_dir.name}",
                         env={"MSPASS_HPC_ARGS": f"{layout} --tunnel reverse", "LOGIN_NODE_BASENAME": "ctl"})
    match = wait_until(lambda: re.search(r"\n    (ssh -N -L 8787:localhost:(\d+) ctl)\n  then open (http://\S+/status)",
                                         job_output(run_dir, job)),
                       240, "the reverse tunnel's ssh command in the job's output", interval=0.5,
                       details=lambda: job_output(run_dir, job))
    command, login_port, url = match.groups()
    assert 40000 <= int(login_port) < 60000  # from the job id, on the login node
    try:
        # the job's ssh from the scheduler's node, the dashboard on that node's loopback
        wait_until(lambda: cluster.exec("ctl", ["ss", "-Hltn", f"sport = :{login_port}"])[1].strip(), 60,
                   "the job's reverse tunnel listening on the login node", interval=0.5,
                   details=lambda: job_output(run_dir, job))
        open_tunnel(cluster, command)
        assert "<title>Dask" in fetch(cluster, url)
    finally:
        cluster.exec("ctl", ["pkill", "-u", "mspass", "-x", "ssh"])
    state, code = cluster.wait_job(job, 400)
    assert (state, code) == ("COMPLETED", "0:0"), job_output(run_dir, job)
    info = json.loads((run_dir / f"mspass-job-{job}.json").read_text())
    assert [(r["name"], r["nodes"]) for r in info["roles"]] == [
        ("db", ["c1"]), ("scheduler", ["c1"]), ("worker-primary", ["c2"]), ("worker", ["c3"]), ("frontend", ["c2"])]
    summary = json.loads((run_dir / "mspass_workflow-summary.json").read_text())
    # three single-threaded worker processes took part: one beside the notebook, two on c3
    assert summary["documents"] == 24 and summary["hosts"] == ["c2", "c3"] and len(summary["workers"]) == 3
    wait_until_nothing_runs(cluster, 60)
