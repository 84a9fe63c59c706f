"""The compose files as a user runs them: `docker compose up --wait`, notebooks through
`docker compose exec frontend mspass-role --batch`, scaling, a killed worker, down and up.

Each module-level cluster is one Compose project (a name of its own, free host ports, a work
dir owned by a non-root uid); the tests of a module run in order against it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.support.compose import USER, Compose, require_compose
from tests.support.containers import IMAGE
from tests.support.paths import REPO
from tests.support.prerequisites import http_status
from tests.support.wait import wait_until
from tests.support.workflow import check

pytestmark = pytest.mark.compose


def cluster(tmp_path_factory, *files: str):
    require_compose()
    project = Compose(tmp_path_factory.mktemp("compose") / "work", *files)
    try:
        project.up("--scale", "worker=2")
        yield project
    except BaseException:
        print(project.logs())
        raise
    finally:
        project.remove()


@pytest.fixture(scope="module")
def dask(tmp_path_factory):
    yield from cluster(tmp_path_factory, "compose.yaml")


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    yield from cluster(tmp_path_factory, "compose.yaml", "compose.spark.yaml")


def published(project: Compose) -> dict[str, list[tuple[str, int, int]]]:
    """Per service: (host address, host port, container port) of every published port."""
    out: dict[str, list] = {}
    for c in project.containers():
        out.setdefault(c["Service"], []).extend(
            (p["URL"], p["PublishedPort"], p["TargetPort"]) for p in c["Publishers"] or [] if p["PublishedPort"])
    return out


def workers(project: Compose) -> list[dict]:
    """The workers the scheduler knows, from its published dashboard."""
    url = f"http://127.0.0.1:{project.ports['DASK_DASHBOARD_PORT']}/json/identity.json"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return list(json.load(resp)["workers"].values())


def summary(project: Compose, name: str) -> dict:
    return json.loads((project.work / f"{name}-summary.json").read_text())


# ------------------------------------------------------------------------------- dask


def test_only_jupyter_and_the_dashboard_are_published_on_loopback(dask):
    ports = dask.ports
    assert published(dask) == {
        "db": [], "worker": [],
        "scheduler": [("127.0.0.1", ports["DASK_DASHBOARD_PORT"], 8787)],
        "frontend": [("127.0.0.1", ports["JUPYTER_PORT"], 8888)],
    }


def test_every_service_is_healthy_and_the_frontend_asks_for_a_token(dask):
    states = {(c["Service"], c["Health"]) for c in dask.containers()}
    assert states == {("db", "healthy"), ("scheduler", "healthy"), ("worker", "healthy"), ("frontend", "healthy")}
    url = f"http://127.0.0.1:{dask.ports['JUPYTER_PORT']}/api/status"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 403
    # the random token, written once in the frontend's log (no fixed password)
    assert "/lab?token=" in dask.run("logs", "frontend").stdout


def test_the_work_dir_files_belong_to_the_user(dask):
    for name in ("db", "logs"):
        assert (dask.work / name).stat().st_uid == USER[0]
    assert {p.stat().st_uid for p in (dask.work / "logs").iterdir()} == {USER[0]}


def test_the_mspass_workflow_runs_on_both_workers(dask):
    run = dask.batch("mspass_workflow.ipynb", "-p", "n_data", "24", "-p", "expect_workers", "2",
                     "-p", "seconds_per_datum", "0.2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    found = summary(dask, "mspass_workflow")
    check(found, 24)
    assert len(set(found["hosts"])) == 2  # the map ran in both worker containers
    # the dashboard link the notebook showed is the published port, and answers from the host
    link = found["components"]["dashboard_link"]
    assert link == f"http://127.0.0.1:{dask.ports['DASK_DASHBOARD_PORT']}/status"
    assert http_status(link) == 200
    # a healthy run leaves no error in the workers' output or logs (an earlier image's
    # workers printed "Future exception was never retrieved" under Compose)
    logs = dask.run("logs", "worker").stdout + "".join(
        p.read_text(errors="replace") for p in (dask.work / "logs").glob("worker-*.log"))
    assert "Future exception was never retrieved" not in logs and "Traceback" not in logs, logs[-3000:]


def test_a_failing_notebook_gives_its_exit_code(dask):
    run = dask.batch("failing.ipynb")
    assert run.returncode == 1, run.stdout[-3000:]
    assert "deliberate failure 42" in (dask.work / "logs" / "failing.executed.ipynb").read_text()


def test_scaled_to_three_workers_each_sized_by_its_container(dask):
    dask.up("--scale", "worker=3")
    def three() -> list[dict] | None:
        found = workers(dask)
        return found if len(found) == 3 else None

    found = wait_until(three, 60, "3 workers registered")
    assert len({w["name"] for w in found}) == 3  # each replica's own name
    # MSPASS_WORKER_CPUS=1, MSPASS_WORKER_MEMORY=1536m: the roles read their cgroup limits
    assert [(w["nthreads"], w["memory_limit"]) for w in found] == [(1, 1536 * 2**20)] * 3


def test_a_worker_killed_mid_run_does_not_change_the_result(dask):
    run = dask.popen_batch("roundtrip.ipynb", "-p", "n_tasks", "40", "-p", "task_seconds", "0.5")
    try:
        wait_until(lambda: dask.documents("roundtrip") >= 4, 120, "4 documents: the run under way",
                   interval=0.5)
        victim = next(c["Name"] for c in dask.containers() if c["Service"] == "worker")
        assert subprocess.run(["docker", "kill", victim], capture_output=True).returncode == 0
        out, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, out[-3000:]
    found = summary(dask, "roundtrip")
    assert found["documents"] == 40 and found["total"] == sum(i * i for i in range(40))


def test_down_and_up_again_finds_every_document(dask):
    before = dask.documents("roundtrip")
    assert before == 40
    dask.run("down", "--timeout", "120")
    assert dask.containers() == []
    dask.up("--scale", "worker=2")
    assert dask.documents("roundtrip") == before


# ------------------------------------------------------------------------------ spark


def test_spark_variant_publishes_the_masters_ui_on_loopback_only(spark):
    ports = spark.ports
    assert published(spark) == {
        "db": [], "worker": [],
        "scheduler": [("127.0.0.1", ports["DASK_DASHBOARD_PORT"], 8080)],
        "frontend": [("127.0.0.1", ports["JUPYTER_PORT"], 8888)],
    }
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['DASK_DASHBOARD_PORT']}/json/", timeout=10) as resp:
        master = json.load(resp)
    assert master["status"] == "ALIVE" and master["aliveworkers"] == 2


def test_spark_notebook_runs_on_the_spark_workers(spark):
    run = spark.batch("spark_roundtrip.ipynb", "-p", "n_tasks", "40", "-p", "expect_workers", "2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    found = summary(spark, "spark_roundtrip")
    assert len(set(found["hosts"])) == 2  # executors ran in both worker containers
    assert found["documents"] == 40 and found["total"] == sum(i * i for i in range(40))


# ------------------------------------------------------------------------------- database login


#: what a container on the project's network tries: the database without the login, and dask's
#: scheduler, whose workers hold the login, over TCP and over TLS without the project's certificate
OUTSIDER = """
import pymongo, ssl
from distributed import Client
from distributed.security import Security
try:
    pymongo.MongoClient("mongodb://db:27017/", serverSelectionTimeoutMS=10000).list_database_names()
    print("db open")
except Exception as err:
    print("db", str(err).splitlines()[0][:200])
for scheme, security in (("tcp", None), ("tls", Security(require_encryption=True))):
    try:
        Client(f"{scheme}://scheduler:8786", timeout=10, security=security).close()
        print(scheme, "open")
    except Exception as err:
        print(scheme, "refused", type(err).__name__)
"""


def readme_override(password_file) -> str:
    """The documented compose.override.yaml (docs/configuration.md), with the password file where this test keeps it."""
    readme = (REPO / "docs" / "configuration.md").read_text()
    block = readme.split("```yaml\n# compose.override.yaml", 1)[1].split("```", 1)[0]
    assert "./db_password.txt" in block
    return "# compose.override.yaml" + block.replace("./db_password.txt", str(password_file))


def test_the_readmes_login_override_requires_the_login_and_the_notebook_uses_it(tmp_path_factory):
    require_compose()
    secrets = tmp_path_factory.mktemp("secrets")
    password = "compose-secret-0123456789"
    (secrets / "db_password.txt").write_text(password + "\n")
    os.chown(secrets / "db_password.txt", *USER)
    (secrets / "db_password.txt").chmod(0o600)
    (secrets / "compose.override.yaml").write_text(readme_override(secrets / "db_password.txt"))
    project = Compose(tmp_path_factory.mktemp("compose") / "work", "compose.yaml",
                      str(secrets / "compose.override.yaml"))
    try:
        # the documented first step: dask's certificates, made once into the work dir
        for said in ("made dask's CA and certificate", "already; nothing changed"):
            made = project.run("run", "--rm", "--no-deps", "frontend", "mspass-role", "credentials")
            assert said in made.stdout, made.stdout + made.stderr
        assert (project.work / ".mspass" / "tls").stat().st_mode & 0o777 == 0o700
        project.up("--scale", "worker=1")
        run = project.batch("mspass_workflow.ipynb", "-p", "n_data", "12")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr
        assert summary(project, "mspass_workflow")["documents"] == 12
        # a container without the login (the worker's) is refused by the database
        refused = project.exec("worker", "python3", "-c", "import pymongo; pymongo.MongoClient('mongodb://db:27017/', "
                               "serverSelectionTimeoutMS=10000).list_database_names()")
        assert refused.returncode != 0 and "requires authentication" in refused.stderr, refused.stderr
        for c in project.containers():  # the password is a file in the container, not in `docker inspect`
            inspect = subprocess.run(["docker", "inspect", c["Name"]], capture_output=True, text=True, check=True)
            assert password not in inspect.stdout
        # a neighbour on the project's network: the database asks for the login, and dask (whose
        # workers hold the login through MsPASS's plugin) refuses it over TCP and over TLS
        network = f"{project.project}_default"
        neighbour = subprocess.run(
            ["docker", "run", "--rm", "--network", network, IMAGE, "python", "-c", OUTSIDER],
            capture_output=True, text=True, timeout=180)
        assert neighbour.returncode == 0, neighbour.stdout + neighbour.stderr
        found = dict(line.split(" ", 1) for line in neighbour.stdout.splitlines() if " " in line)
        assert "requires authentication" in found["db"], found
        assert found["tcp"].startswith("refused") and found["tls"].startswith("refused"), found
        assert password not in neighbour.stdout + neighbour.stderr
    except BaseException:
        print(project.logs())
        raise
    finally:
        project.remove()


# ------------------------------------------------------------------------------- sharded


def image_engine() -> str:
    return subprocess.run(["docker", "image", "inspect", "-f", '{{index .Config.Labels "io.mspass.db-engine"}}',
                           IMAGE], capture_output=True, text=True).stdout.strip()


def test_sharded_variant(tmp_path_factory):
    """compose.sharded.yaml: with MongoDB the workflow writes a sharded collection through
    `db` (now the dbmanager); with FerretDB (this project's CI) each sharded role exits 2
    naming the engine and what to do, before anything starts."""
    require_compose()
    project = Compose(tmp_path_factory.mktemp("compose") / "work", "compose.yaml", "compose.sharded.yaml")
    try:
        if image_engine() != "mongodb":
            for service in ("shard0", "db"):
                run = project.run("run", "--rm", "--no-deps", service, check=False)
                assert run.returncode == 2, run.stdout + run.stderr
                assert "needs a database engine that can shard" in run.stderr + run.stdout
                assert "make build MSPASS_DB_ENGINE=mongodb" in run.stderr + run.stdout
            assert not (project.work / "db").exists()  # nothing half-started
            return
        project.up("--scale", "worker=1")
        run = project.batch("mspass_workflow.ipynb", "-p", "n_data", "12", "-p", "database", "mspass",
                            "-p", "drop_first", "False")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr
        assert summary(project, "mspass_workflow")["documents"] == 12
        sharded = project.exec("frontend", "python3", "-c", "import pymongo; print(pymongo.MongoClient('db')"
                               ".config.collections.find_one({'_id': 'mspass.wf_TimeSeries'})['key'])")
        assert sharded.stdout.strip() == "{'_id': 'hashed'}", sharded.stdout + sharded.stderr
    except BaseException:
        print(project.logs())
        raise
    finally:
        project.remove()


def test_a_taken_host_port_fails_up_naming_it_and_down_removes_what_it_started(tmp_path_factory):
    """What the README says of a host port another program holds: Compose starts the services
    in dependency order and publishes Jupyter's port last, so `up` fails with the engine's
    own message naming the port and leaves db, scheduler and worker running (Compose does
    not roll back; no role can, since the frontend's container never starts); `down`
    removes them all."""
    require_compose()
    project = Compose(tmp_path_factory.mktemp("compose") / "work")
    port = project.ports["JUPYTER_PORT"]
    try:
        with socket.create_server(("127.0.0.1", port)):  # another program on the user's machine
            result = project.run("up", "--detach", "--wait", check=False)
        assert result.returncode != 0
        assert f"127.0.0.1:{port}" in result.stderr and "address already in use" in result.stderr, result.stderr
        running = sorted(c["Service"] for c in project.containers() if c["State"] == "running")
        assert running == ["db", "scheduler", "worker"], running
        project.run("down", "--timeout", "60")
        assert project.containers() == []
    finally:
        project.remove()
