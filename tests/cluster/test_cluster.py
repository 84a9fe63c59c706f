"""Tier 4: role containers on a private docker network, named like the nodes of a cluster.

The work dir is one host directory mounted in every container, as a cluster's shared
file system would be.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pytest

from mspass_roles import credentials
from tests.support.paths import NOTEBOOKS
from tests.support.prerequisites import http_status
from tests.support.wait import wait_until
from tests.support.writer import AckedWriter
from tests.support.workflow import check

pytestmark = pytest.mark.cluster



@dataclass
class Cluster:
    network: str
    work: Path
    db: object
    scheduler: object
    workers: list

    def mount(self) -> dict:
        return {str(self.work): {"bind": "/home", "mode": "rw"}}


@pytest.fixture
def cluster(containers, tmp_path) -> Cluster:
    """db, scheduler, worker1 and worker2, each in its own container, all healthy."""
    net = containers.network()
    work = tmp_path / "shared"
    shutil.copytree(NOTEBOOKS, work)
    run = {"network": net, "volumes": {str(work): {"bind": "/home", "mode": "rw"}}}  # the image's own health check
    db = containers.run("db", environment={"MSPASS_ROLE": "db"}, **run)
    scheduler = containers.run("scheduler", environment={"MSPASS_ROLE": "scheduler"}, **run)
    workers = [containers.run(name, environment={"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "scheduler"},
                              **run) for name in ("worker1", "worker2")]
    for c in (db, scheduler, *workers):
        containers.wait_healthy(c)
    return Cluster(net, work, db, scheduler, workers)


def run_frontend_batch(containers, cluster: Cluster, notebook: str, *params: str):
    env = {"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "db", "MSPASS_SCHEDULER_ADDRESS": "scheduler"}
    args = ["--batch", notebook]
    for i in range(0, len(params), 2):
        args += ["-p", params[i], params[i + 1]]
    return containers.run("frontend", args, environment=env, network=cluster.network, volumes=cluster.mount())


def test_mspass_workflow_spreads_over_both_worker_containers(containers, cluster):
    frontend = run_frontend_batch(containers, cluster, "mspass_workflow.ipynb", "n_data", "24",
                                  "expect_workers", "2", "seconds_per_datum", "0.2")
    assert containers.wait_exit(frontend, 300) == 0, containers.logs_of(frontend)

    summary = json.loads((cluster.work / "mspass_workflow-summary.json").read_text())
    assert summary["hosts"] == ["worker1", "worker2"]  # the map ran in both worker containers
    check(summary, 24)
    assert (cluster.work / "logs" / "mspass_workflow.executed.ipynb").exists()


def test_a_worker_killed_mid_run_does_not_break_the_run(containers, cluster):
    frontend = run_frontend_batch(containers, cluster, "roundtrip.ipynb", "n_tasks", "40", "task_seconds", "0.5")
    db = pymongo.MongoClient(containers.ip(cluster.db, cluster.network), 27017, serverSelectionTimeoutMS=5000)
    coll = db["mspass_test"]["roundtrip"]
    wait_until(lambda: coll.count_documents({}) >= 4, 120, "4 documents: the run under way on both workers",
               interval=0.1, details=lambda: containers.logs_of(frontend))
    cluster.workers[1].kill()

    assert containers.wait_exit(frontend) == 0, containers.logs_of(frontend)
    summary = json.loads((cluster.work / "roundtrip-summary.json").read_text())
    assert summary["documents"] == 40 and summary["total"] == sum(i * i for i in range(40))
    assert cluster.workers[1].wait(timeout=10)["StatusCode"] != 0


def test_all_in_one_container(containers, tmp_path):
    net = containers.network()
    home = containers.volume()  # the user's work dir, database included, survives the container
    token = "cluster-test-token-42"
    # the writer measures durability from outside: its database opened as a user would (closed by default)
    run = {"network": net, "environment": {"MSPASS_JUPYTER_TOKEN": token, "MSPASS_SERVICE_ADDRESS": "0.0.0.0"},
           "volumes": {home: {"bind": "/home", "mode": "rw"}, str(NOTEBOOKS): {"bind": "/notebooks", "mode": "ro"}}}
    aio = containers.run("aio", **run)  # the image's own HEALTHCHECK
    containers.wait_healthy(aio)
    ip = containers.ip(aio, net)

    # Jupyter answers its API with the token, and refuses without it
    assert http_status(f"http://{ip}:8888/api/status", token) == 200
    assert http_status(f"http://{ip}:8888/api/status") == 403

    # a batch run through docker exec uses the services already running there
    result = aio.exec_run(["mspass-role", "--batch", "/notebooks/roundtrip.ipynb", "-p", "n_tasks", "12"])
    out = result.output.decode()
    assert result.exit_code == 0, out
    assert "already run here" in out
    assert aio.exec_run(["pgrep", "-c", "-x", "ferretdb|mongod"]).output.decode().strip() == "1"

    # docker stop loses no acknowledged write
    writer = AckedWriter(f"mongodb://{ip}:27017/").start()
    writer.wait_for(300)
    aio.stop(timeout=60)
    writer.stop()
    assert aio.wait(timeout=10)["StatusCode"] == 0
    assert "db stopped" in containers.logs_of(aio)

    again = containers.run("aio2", **run)
    containers.wait_healthy(again)
    assert writer.lost(f"mongodb://{containers.ip(again, net)}:27017/") == 0, f"of {writer.acked} acknowledged"


def test_passthrough_and_invalid_settings_on_the_cluster_network(containers, cluster):
    ping = containers.run(None, ["python", "-c", "import pymongo; print(pymongo.MongoClient('db', 27017)"
                                 ".admin.command('ping'))"], network=cluster.network)
    assert containers.wait_exit(ping, 60) == 0
    assert "'ok': 1.0" in containers.logs_of(ping)

    bad = containers.run("worker3", environment={"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "scheduler:99999"},
                         network=cluster.network)
    assert containers.wait_exit(bad, 60) == 2
    assert "MSPASS_SCHEDULER_ADDRESS='scheduler:99999' has an invalid port" in containers.logs_of(bad)
    bad.reload()
    assert bad.status == "exited"


def test_spark_cluster_of_role_containers(containers, tmp_path):
    net = containers.network()
    work = tmp_path / "shared"
    shutil.copytree(NOTEBOOKS, work)
    spark = {"MSPASS_SCHEDULER": "spark", "SPARK_WORKER_CORES": "1", "SPARK_WORKER_MEMORY": "1g"}
    run = {"network": net, "volumes": {str(work): {"bind": "/home", "mode": "rw"}}}  # the image's own health check
    nodes = [containers.run("db", environment={"MSPASS_ROLE": "db"}, **run),
             containers.run("scheduler", environment={"MSPASS_ROLE": "scheduler", **spark}, **run)]
    nodes += [containers.run(name, environment={"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "scheduler",
                                                 **spark}, **run) for name in ("worker1", "worker2")]
    for c in nodes:
        containers.wait_healthy(c)
    frontend = containers.run(
        "frontend", ["--batch", "spark_roundtrip.ipynb", "-p", "n_tasks", "40", "-p", "expect_workers", "2"],
        environment={"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "db", "MSPASS_SCHEDULER_ADDRESS": "scheduler",
                     **spark}, network=net, volumes=run["volumes"])
    assert containers.wait_exit(frontend, 300) == 0, containers.logs_of(frontend)

    summary = json.loads((work / "spark_roundtrip-summary.json").read_text())
    assert summary["hosts"] == ["worker1", "worker2"]  # executors ran in both worker containers
    assert summary["documents"] == 40 and summary["total"] == sum(i * i for i in range(40))


def test_all_in_one_spark_container(containers, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(NOTEBOOKS, work)
    aio = containers.run("aio", ["--batch", "spark_roundtrip.ipynb", "-p", "n_tasks", "16"],
                         environment={"MSPASS_SCHEDULER": "spark", "SPARK_WORKER_MEMORY": "1g"},
                         volumes={str(work): {"bind": "/home", "mode": "rw"}})
    assert containers.wait_exit(aio, 300) == 0, containers.logs_of(aio)
    logs = containers.logs_of(aio)
    assert "scheduler ready: Spark master spark://aio:7077" in logs and "worker ready: Spark worker" in logs
    assert json.loads((work / "spark_roundtrip-summary.json").read_text())["documents"] == 16


OUTSIDER = """
import json
import pymongo
from distributed import Client
from pymongo.errors import OperationFailure

found = {}
try:
    pymongo.MongoClient("mongodb://db:27017/", serverSelectionTimeoutMS=10000).list_database_names()
    found["db"] = "allowed"
except OperationFailure as err:
    found["db"] = f"refused {err.code}"
for scheme in ("tcp", "tls"):
    try:
        with Client(f"{scheme}://scheduler:8786", timeout=10, set_as_default=False) as dask:
            found["dask " + scheme] = f"allowed {dask.submit(sum, [1, 2]).result()}"
    except Exception:
        found["dask " + scheme] = "refused"
print(json.dumps(found))
"""


def test_with_a_login_and_tls_the_workflow_runs_and_a_container_without_them_is_refused(containers, tmp_path):
    net = containers.network()
    work = tmp_path / "shared"
    shutil.copytree(NOTEBOOKS, work)
    private = tmp_path / "credentials"  # mounted read-only where its paths say, as *_FILE secrets would be
    env = {**credentials.make_tls(private / "tls"), **credentials.make_login(private / "db.password")}
    password = (private / "db.password").read_text()
    mounts = {str(work): {"bind": "/home", "mode": "rw"}, str(private): {"bind": str(private), "mode": "ro"}}
    run = {"network": net, "volumes": mounts}
    services = [containers.run("db", environment={"MSPASS_ROLE": "db", **env}, **run),
                containers.run("scheduler", environment={"MSPASS_ROLE": "scheduler", **env}, **run),
                containers.run("worker1", environment={"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "scheduler",
                                                       **env}, **run)]
    for c in services:
        containers.wait_healthy(c)  # the image's own health check logs in and speaks TLS

    frontend = containers.run("frontend", ["--batch", "mspass_workflow.ipynb", "-p", "n_data", "12"],
                              environment={"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "db",
                                           "MSPASS_SCHEDULER_ADDRESS": "scheduler", **env}, **run)
    assert containers.wait_exit(frontend, 300) == 0, containers.logs_of(frontend)
    summary = json.loads((work / "mspass_workflow-summary.json").read_text())
    check(summary, 12)

    outsider = containers.run("outsider", network=net, entrypoint=["python3", "-c", OUTSIDER])
    assert containers.wait_exit(outsider, 120) == 0, containers.logs_of(outsider)
    # its one line of JSON (a failed dask Client may print a traceback when collected, at exit)
    found = json.loads(next(line for line in containers.logs_of(outsider).splitlines() if line.startswith("{")))
    assert found == {"db": "refused 13", "dask tcp": "refused", "dask tls": "refused"}
    for c in [*services, frontend]:  # the password is in no container's `docker inspect` nor its log
        c.reload()
        assert password not in json.dumps(c.attrs) and password not in containers.logs_of(c)
