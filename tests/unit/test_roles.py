"""Unit tests of the plans built by mspass_roles/roles/*: argv lists, probes, order, env.

Nothing is started: plans are inspected, and only the before_start/after_stop hooks that
touch files are called, inside tmp_path.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from mspass_roles.plan import Plan
from mspass_roles.probes import DaskWorkersProbe, HttpProbe, MongoPingProbe, ReplicaSetPrimaryProbe, TcpProbe
from mspass_roles.roles import Batch, BatchError, attach_plan, build_plan, directories, resolve_batch
from mspass_roles.roles import db as db_role
from tests.support.settings import make, tls_env

PY = sys.executable

# ---------------------------------------------------------------------- helpers




FRONTEND = {"MSPASS_DB_ADDRESS": "dbhost", "MSPASS_SCHEDULER_ADDRESS": "sched"}


def only(plan: Plan):
    assert len(plan.services) == 1
    return plan.services[0]


def option_values(argv: list[str], option: str) -> list[str]:
    """Every value given to `option`, as `option VALUE` or `option=VALUE`."""
    out = []
    for i, arg in enumerate(argv):
        if arg == option:
            out.append(argv[i + 1])
        elif arg.startswith(option + "="):
            out.append(arg.split("=", 1)[1])
    return out


def write_notebook(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


@pytest.fixture
def node_tmp(tmp_path, monkeypatch):
    """tempfile.gettempdir() points into tmp_path (tempfile caches its answer: reset it)."""
    scratch = tmp_path / "nodetmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert tempfile.gettempdir() == str(scratch)
    return scratch


# ---------------------------------------------------------------------- db


def test_db_ferretdb_argv(tmp_path):
    s = make(tmp_path, role="db", found=("ferretdb",))
    svc = only(build_plan(s))
    data = tmp_path / "work" / "db"
    assert svc.name == "db"
    assert svc.argv[0] == "ferretdb"
    assert "--handler=sqlite" in svc.argv
    assert f"--sqlite-url=file:{data}/" in svc.argv
    assert f"--state-dir={data}" in svc.argv
    assert "--listen-addr=0.0.0.0:27017" in svc.argv
    assert "--telemetry=disable" in svc.argv
    assert "--debug-addr=-" in svc.argv


def test_db_ferretdb_listen_addr_follows_bind_and_port(tmp_path):
    s = make(tmp_path, role="db", found=("ferretdb",), MSPASS_BIND_ADDRESS="127.0.0.1", MONGODB_PORT="27018")
    svc = only(build_plan(s))
    assert option_values(svc.argv, "--listen-addr") == ["127.0.0.1:27018"]
    assert svc.probe == MongoPingProbe("mongodb://127.0.0.1:27018/", write=True)


def test_db_mongodb_argv_all_interfaces(tmp_path):
    s = make(tmp_path, role="db", found=("mongod",))
    svc = only(build_plan(s))
    assert svc.argv == ["mongod", "--dbpath", str(tmp_path / "work" / "db"), "--port", "27017", "--bind_ip_all"]


def test_db_mongodb_argv_one_interface(tmp_path):
    s = make(tmp_path, role="db", found=("mongod",), MSPASS_BIND_ADDRESS="10.1.2.3", MONGODB_PORT="27020")
    argv = only(build_plan(s)).argv
    assert argv == ["mongod", "--dbpath", str(tmp_path / "work" / "db"), "--port", "27020",
                    "--bind_ip", "10.1.2.3"]
    assert "--bind_ip_all" not in argv


LOGIN = {"MONGO_INITDB_ROOT_USERNAME": "mspass", "MONGO_INITDB_ROOT_PASSWORD": "pw-42"}


def test_db_ferretdb_with_a_login_sets_its_user_up_through_a_file_it_has_only_until_ready(tmp_path):
    svc = only(build_plan(make(tmp_path, role="db", found=("ferretdb",), **LOGIN)))
    assert "--test-enable-new-auth" in svc.argv and not any("pw-42" in a or "mspass" in a for a in svc.argv)
    secret = Path(svc.env["FERRETDB_SETUP_PASSWORD_FILE"])
    assert svc.env == {"FERRETDB_SETUP_USERNAME": "mspass", "FERRETDB_SETUP_PASSWORD_FILE": str(secret),
                       "FERRETDB_SETUP_DATABASE": "admin"}  # in no variable: /proc/PID/environ keeps them
    secret.parent.mkdir(parents=True, exist_ok=True)
    svc.before_start()
    assert secret.read_text() == "pw-42" and secret.stat().st_mode & 0o777 == 0o600
    svc.on_ready()
    assert not secret.exists()
    assert svc.probe == MongoPingProbe("mongodb://127.0.0.1:27017/", write=True, auth=True)


def test_db_ferretdb_on_existing_data_sets_no_user_up(tmp_path):
    (tmp_path / "work" / "db").mkdir(parents=True)
    (tmp_path / "work" / "db" / "test.sqlite").write_text("")
    svc = only(build_plan(make(tmp_path, role="db", found=("ferretdb",), **LOGIN)))
    assert "--test-enable-new-auth" in svc.argv and svc.env == {}  # the user must exist: the probe says if not


@pytest.mark.parametrize("existing, first_user", [(False, True), (True, False)])
def test_db_mongod_with_a_login_requires_it_and_creates_the_user_only_in_an_empty_dir(tmp_path, existing, first_user):
    if existing:
        (tmp_path / "work" / "db").mkdir(parents=True)
        (tmp_path / "work" / "db" / "WiredTiger").write_text("")
    svc = only(build_plan(make(tmp_path, role="db", found=("mongod",), **LOGIN)))
    assert svc.argv[-1] == "--auth" and not any("pw-42" in a for a in svc.argv)
    assert svc.env == {"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}  # no login in the environment either
    assert svc.probe == MongoPingProbe("mongodb://127.0.0.1:27017/", write=True, auth=True,
                                       first_user=first_user)


def test_db_mongod_with_a_login_on_one_interface_also_listens_on_loopback(tmp_path):
    s = make(tmp_path, role="db", found=("mongod",), MSPASS_BIND_ADDRESS="10.1.2.3", **LOGIN)
    assert option_values(only(build_plan(s)).argv, "--bind_ip") == ["10.1.2.3,127.0.0.1"]


def test_frontend_waits_for_the_database_with_its_login(tmp_path):
    s = make(tmp_path, role="frontend", MSPASS_DB_ADDRESS="dbhost", MSPASS_SCHEDULER_ADDRESS="sched", **LOGIN)
    [db, _] = only(build_plan(s)).needs
    assert db == MongoPingProbe("mongodb://dbhost:27017/", auth=True)


def test_dask_over_tls_listens_and_connects_with_tls(tmp_path):
    env = tls_env(tmp_path, "scheduler", "worker", "client")
    plan = build_plan(make(tmp_path, role="all", found=("ferretdb",), **env))
    by_name = {svc.name: svc for svc in plan.services}
    assert option_values(by_name["scheduler"].argv, "--protocol") == ["tls"]
    worker = by_name["worker"]
    assert worker.argv[4] == "tls://127.0.0.1:8786" and option_values(worker.argv, "--protocol") == ["tls"]
    files = tmp_path / "tls"
    assert worker.probe.scheduler == "tls://127.0.0.1:8786"
    assert worker.probe.tls == (str(files / "ca.pem"), str(files / "cert.pem"), str(files / "key.pem"))
    plain = build_plan(make(tmp_path, role="all", found=("ferretdb",)))
    assert all("--protocol" not in svc.argv for svc in plain.services)


@pytest.mark.parametrize("role", ["worker", "frontend"])
def test_a_role_waits_for_a_tls_scheduler_with_its_own_certificate(tmp_path, role):
    env = tls_env(tmp_path, "worker" if role == "worker" else "client")
    svc = only(build_plan(make(tmp_path, role=role, MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_DB_ADDRESS="dbhost",
                               **env)))
    files = tmp_path / "tls"
    assert svc.needs[-1] == DaskWorkersProbe("tls://sched:8786", count=0, tls=(
        str(files / "ca.pem"), str(files / "cert.pem"), str(files / "key.pem")))


def test_spark_daemons_and_driver_share_the_secret_through_private_files_not_argv(tmp_path):
    from mspass_roles import spark

    s = make(tmp_path, role="all", found=("ferretdb",), MSPASS_SCHEDULER="spark", MSPASS_SPARK_SECRET="s3cr3t-42",
             SPARK_WORKER_CORES="1", SPARK_WORKER_MEMORY="1g")
    by_name = {svc.name: svc for svc in build_plan(s).services}
    for name in ("scheduler", "worker"):
        svc = by_name[name]
        [conf] = option_values(svc.argv, "--properties-file")
        assert not any("s3cr3t" in a for a in svc.argv)
        svc.before_start()
        path = Path(conf)
        assert path.read_text() == "spark.authenticate true\nspark.authenticate.secret s3cr3t-42\n"
        assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
        svc.after_stop()
        assert not path.parent.exists()
    driver = spark.driver_conf(s)
    assert driver["spark.authenticate"] == "true" and driver["spark.authenticate.secret"] == "s3cr3t-42"
    plain = build_plan(make(tmp_path, role="all", found=("ferretdb",), MSPASS_SCHEDULER="spark",
                            SPARK_WORKER_CORES="1", SPARK_WORKER_MEMORY="1g"))
    assert all("--properties-file" not in svc.argv for svc in plain.services)


def test_db_probe_log_and_timeout(tmp_path):
    s = make(tmp_path, role="db", MSPASS_STOP_TIMEOUT="42")
    svc = only(build_plan(s))
    # ping alone passes on a full disk: the server must also store a document
    assert svc.probe == MongoPingProbe("mongodb://127.0.0.1:27017/", write=True)
    assert svc.log == tmp_path / "work" / "logs" / "db-node1.log"
    assert svc.stop_timeout == 42
    assert not svc.main


def test_db_scratch_before_start_creates_data_dir(tmp_path):
    s = make(tmp_path, role="db")
    only(build_plan(s)).before_start()
    assert (tmp_path / "work" / "db").is_dir()


def test_db_ready_file_touched_on_ready(tmp_path):
    ready = tmp_path / "flags" / "db.ready"
    s = make(tmp_path, role="db", MSPASS_DB_READY_FILE=ready)
    only(build_plan(s)).on_ready()
    assert ready.exists()


def test_db_path_tmp_runs_from_tmp(tmp_path, node_tmp):
    s = make(tmp_path, role="db", found=("ferretdb",), MSPASS_DB_PATH="tmp")
    svc = only(build_plan(s))
    run_path = node_tmp / "mspass-db-node1-27017"
    assert f"--state-dir={run_path}" in svc.argv
    assert f"--sqlite-url=file:{run_path}/" in svc.argv
    assert str(s.db_dir) not in " ".join(svc.argv)


def test_db_path_tmp_mongod_dbpath(tmp_path, node_tmp):
    s = make(tmp_path, role="db", found=("mongod",), MSPASS_DB_PATH="tmp")
    argv = only(build_plan(s)).argv
    assert option_values(argv, "--dbpath") == [str(node_tmp / "mspass-db-node1-27017")]


def test_db_path_tmp_copies_in_and_back(tmp_path, node_tmp):
    s = make(tmp_path, role="db", found=("ferretdb",), MSPASS_DB_PATH="tmp")
    svc = only(build_plan(s))
    run_path = node_tmp / "mspass-db-node1-27017"
    s.db_dir.mkdir(parents=True)
    (s.db_dir / "mspass.wt").write_text("old data")

    svc.before_start()
    assert (run_path / "mspass.wt").read_text() == "old data"

    (run_path / "mspass.wt").write_text("new data")
    (run_path / "other.wt").write_text("created")
    svc.after_stop()
    assert (s.db_dir / "mspass.wt").read_text() == "new data"
    assert (s.db_dir / "other.wt").read_text() == "created"
    assert not run_path.exists()


def test_db_path_tmp_first_run_with_no_db_dir(tmp_path, node_tmp):
    s = make(tmp_path, role="db", found=("ferretdb",), MSPASS_DB_PATH="tmp")
    svc = only(build_plan(s))
    svc.before_start()
    assert (node_tmp / "mspass-db-node1-27017").is_dir()


def test_db_path_tmp_before_start_discards_stale_tmp_copy(tmp_path, node_tmp):
    s = make(tmp_path, role="db", found=("ferretdb",), MSPASS_DB_PATH="tmp")
    svc = only(build_plan(s))
    run_path = node_tmp / "mspass-db-node1-27017"
    run_path.mkdir()
    (run_path / "leftover.wt").write_text("from a crashed run")
    svc.before_start()
    assert not (run_path / "leftover.wt").exists()


def test_db_path_tmp_copy_back_mirrors_deletions(tmp_path, node_tmp):
    s = make(tmp_path, role="db", found=("ferretdb",), MSPASS_DB_PATH="tmp")
    svc = only(build_plan(s))
    run_path = node_tmp / "mspass-db-node1-27017"
    s.db_dir.mkdir(parents=True)
    (s.db_dir / "dropped.wt").write_text("a database the user drops")
    svc.before_start()
    (run_path / "dropped.wt").unlink()  # what the server does on dropDatabase
    svc.after_stop()
    assert not (s.db_dir / "dropped.wt").exists()


def test_db_path_tmp_copies_periodically_as_set(tmp_path, node_tmp):
    svc = only(build_plan(make(tmp_path, role="db", found=("ferretdb",), MSPASS_DB_PATH="tmp",
                               MSPASS_DB_SYNC_INTERVAL="120")))
    assert (svc.periodic is not None, svc.period) == (True, 120)
    assert "every 120 s and on stop" in svc.summary
    svc = only(build_plan(make(tmp_path, role="db", found=("ferretdb",), MSPASS_DB_PATH="tmp",
                               MSPASS_DB_SYNC_INTERVAL="0")))
    assert (svc.periodic, svc.after_stop is not None) == (None, True)
    svc = only(build_plan(make(tmp_path, role="db", found=("ferretdb",))))
    assert (svc.periodic, svc.after_stop) == (None, None)


# ---------------------------------------------------------------------- scheduler


def test_scheduler_argv_and_probe(tmp_path):
    s = make(tmp_path, role="scheduler")
    svc = only(build_plan(s))
    assert svc.name == "scheduler"
    assert svc.argv == [PY, "-m", "dask", "scheduler", "--port", "8786", "--dashboard-address", ":8787"]
    assert svc.probe == HttpProbe("http://127.0.0.1:8787/health", expect="ok")
    assert svc.log == tmp_path / "work" / "logs" / "scheduler-node1.log"


def test_scheduler_bind_address_and_ports(tmp_path):
    s = make(tmp_path, role="scheduler", MSPASS_BIND_ADDRESS="10.1.2.3", DASK_SCHEDULER_PORT="9000",
             DASK_DASHBOARD_PORT="9001")
    svc = only(build_plan(s))
    assert svc.argv == [PY, "-m", "dask", "scheduler", "--port", "9000", "--dashboard-address", "10.1.2.3:9001",
                        "--host", "10.1.2.3"]
    assert svc.probe.url == "http://10.1.2.3:9001/health"


def test_scheduler_spark_master_argv_and_probe(tmp_path):
    s = make(tmp_path, role="scheduler", MSPASS_SCHEDULER="spark", MSPASS_BIND_ADDRESS="10.0.0.7",
             SPARK_MASTER_PORT="7000", SPARK_MASTER_WEBUI_PORT="7001")
    svc = only(build_plan(s))
    assert svc.argv[0].endswith("/bin/spark-class") and svc.argv[1] == "org.apache.spark.deploy.master.Master"
    assert option_values(svc.argv, "--host") == ["10.0.0.7"]  # Spark binds where it announces
    assert option_values(svc.argv, "--port") == ["7000"]
    assert option_values(svc.argv, "--webui-port") == ["7001"]
    assert isinstance(svc.probe, HttpProbe) and svc.probe.url == "http://10.0.0.7:7001/json/"
    assert "ALIVE" in svc.probe.expect
    assert svc.env["SPARK_LOCAL_IP"] == "10.0.0.7" and svc.env["SPARK_HOME"].endswith("pyspark")


def test_spark_master_on_all_interfaces_announces_the_host_name(tmp_path, monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "node7")
    s = make(tmp_path, role="all", MSPASS_SCHEDULER="spark")
    services = {svc.name: svc for svc in build_plan(s).services}
    assert option_values(services["scheduler"].argv, "--host") == ["node7"]
    assert s.scheduler_address.host == "node7"  # the worker and driver use the name too
    assert services["worker"].argv[2] == "spark://node7:7077"


# ---------------------------------------------------------------------- worker


def test_worker_argv_defaults(tmp_path):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched:8800")
    svc = only(build_plan(s))
    assert svc.name == "worker"
    assert svc.argv[:5] == [PY, "-m", "dask", "worker", "tcp://sched:8800"]
    assert option_values(svc.argv, "--name") == ["node1"]
    assert option_values(svc.argv, "--memory-limit") == ["0"]
    assert option_values(svc.argv, "--local-directory") == [str(tmp_path / "work" / "work")]
    assert option_values(svc.argv, "--death-timeout") == ["300"]
    assert "--host" not in svc.argv
    assert svc.cwd == tmp_path / "work" / "work"


def test_worker_needs_and_probe(tmp_path):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="tcp://sched:8800")
    svc = only(build_plan(s))
    # a dask handshake, which leaves no line in the scheduler's log (a bare connection left one)
    assert svc.needs == [DaskWorkersProbe("tcp://sched:8800", count=0)]
    assert svc.probe == DaskWorkersProbe("tcp://sched:8800", "node1", 1)


def test_worker_ipv6_scheduler_uri(tmp_path):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="[::1]:8800")
    svc = only(build_plan(s))
    assert svc.argv[4] == "tcp://[::1]:8800"
    assert svc.needs == [DaskWorkersProbe("tcp://[::1]:8800", count=0)]


def test_worker_user_args_appended(tmp_path):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched",
             MSPASS_WORKER_ARG="--nthreads 2 --resources 'GPU=1 MEM=2'")
    argv = only(build_plan(s)).argv
    assert argv[-4:] == ["--nthreads", "2", "--resources", "GPU=1 MEM=2"]


@pytest.mark.parametrize("arg,dashboard", [
    ("", ["--no-dashboard"]),  # unreachable on its random port, and a second of CPU to start
    ("--dashboard", []),
    ("--dashboard-address :8790", []),
    ("--no-dashboard", []),
])
def test_worker_dashboard_off_unless_asked_for(tmp_path, arg, dashboard):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_WORKER_ARG=arg)
    argv = only(build_plan(s)).argv
    ours = argv[:len(argv) - len(arg.split())] if arg else argv
    assert [a for a in ours if a.startswith("--") and "dashboard" in a] == dashboard
    assert argv.count("--no-dashboard") <= 1


@pytest.mark.parametrize("arg", ["--memory-limit 2GB", "--memory-limit=2GB"])
def test_worker_memory_limit_from_worker_arg_wins(tmp_path, arg):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_WORKER_ARG=arg,
             MSPASS_DASK_WORKER_MEMORY_LIMIT="8GB")
    argv = only(build_plan(s)).argv
    assert option_values(argv, "--memory-limit") == ["2GB"]
    assert "8GB" not in argv


def test_worker_memory_limit_from_env(tmp_path):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_DASK_WORKER_MEMORY_LIMIT="4GiB")
    assert option_values(only(build_plan(s)).argv, "--memory-limit") == ["4GiB"]


@pytest.mark.parametrize("arg", ["--nworkers 3", "--nworkers=3"])
def test_worker_nworkers_sets_probe_count(tmp_path, arg):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_WORKER_ARG=arg)
    svc = only(build_plan(s))
    assert svc.probe.count == 3
    assert option_values(svc.argv, "--nworkers") == ["3"]


def test_worker_user_options_not_duplicated(tmp_path):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched",
             MSPASS_WORKER_ARG=f"--name mine --local-directory {tmp_path}/scratch --death-timeout 5")
    svc = only(build_plan(s))
    assert option_values(svc.argv, "--name") == ["mine"]
    assert option_values(svc.argv, "--local-directory") == [f"{tmp_path}/scratch"]
    assert option_values(svc.argv, "--death-timeout") == ["5"]
    assert svc.probe.name == "mine"


def test_worker_bind_address(tmp_path):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_BIND_ADDRESS="10.1.2.3")
    assert option_values(only(build_plan(s)).argv, "--host") == ["10.1.2.3"]


def test_spark_worker_argv_needs_and_probe(tmp_path):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER="spark", MSPASS_SCHEDULER_ADDRESS="master",
             SPARK_WORKER_CORES="3", SPARK_WORKER_MEMORY="2g", SPARK_WORKER_WEBUI_PORT="9081",
             MSPASS_BIND_ADDRESS="10.0.0.8")
    svc = only(build_plan(s))
    assert svc.argv[1:3] == ["org.apache.spark.deploy.worker.Worker", "spark://master:7077"]
    assert option_values(svc.argv, "--cores") == ["3"] and option_values(svc.argv, "--memory") == ["2g"]
    assert option_values(svc.argv, "--work-dir") == [str(s.worker_dir)]
    assert option_values(svc.argv, "--webui-port") == ["9081"]
    assert [(p.host, p.port) for p in svc.needs] == [("master", 7077)]
    assert svc.probe.url == "http://10.0.0.8:9081/json/" and "masterwebuiurl" in svc.probe.expect


def test_spark_worker_size_defaults_to_what_the_container_may_use(tmp_path, monkeypatch):
    from mspass_roles import resources

    monkeypatch.setattr(resources, "cpu_count", lambda: 3)
    monkeypatch.setattr(resources, "memory_bytes", lambda: 6 << 30)
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER="spark", MSPASS_SCHEDULER_ADDRESS="master")
    assert (s.spark_worker_cores, s.spark_worker_memory) == (3, "5120m")


def test_spark_frontend_writes_the_driver_configuration(tmp_path):
    s = make(tmp_path, role="frontend", MSPASS_SCHEDULER="spark", MSPASS_SCHEDULER_ADDRESS="master:7000",
             MSPASS_DB_ADDRESS="db", MSPASS_SPARK_DRIVER_HOST="frontend1", MSPASS_SPARK_DRIVER_PORT="7100",
             MSPASS_SPARK_BLOCKMANAGER_PORT="7101")
    svc = only(build_plan(s))
    svc.before_start()
    conf_dir = Path(svc.env["SPARK_CONF_DIR"])
    conf = dict(line.split(" ", 1) for line in (conf_dir / "spark-defaults.conf").read_text().splitlines())
    assert conf["spark.master"] == "spark://master:7000"
    assert conf["spark.driver.host"] == "frontend1"
    assert (conf["spark.driver.port"], conf["spark.blockManager.port"]) == ("7100", "7101")
    assert conf["spark.executorEnv.MSPASS_DB_URI"] == "mongodb://db:27017/"
    assert svc.env["MSPASS_SCHEDULER"] == "spark" and svc.env["SPARK_MASTER_PORT"] == "7000"
    svc.after_stop()
    assert not conf_dir.exists()


# ---------------------------------------------------------------------- frontend: batch


def test_batch_notebook_uses_papermill(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = write_notebook(tmp_path / "work" / "flow.ipynb")
    s = make(tmp_path, role="frontend", **FRONTEND)
    batch = resolve_batch("flow.ipynb", ["-p", "n", "3"], s)
    assert batch == Batch(nb.resolve(), ("-p", "n", "3"))
    svc = only(build_plan(s, batch))
    out = tmp_path / "work" / "logs" / "flow.executed.ipynb"
    assert svc.name == "batch"
    assert svc.argv[:5] == [PY, "-m", "mspass_roles.papermill_run", str(nb.resolve()), str(out)]
    assert svc.argv[-3:] == ["-p", "n", "3"]
    assert svc.main is True
    assert svc.probe is None
    assert svc.cwd == nb.resolve().parent
    assert svc.env == s.client_env()
    assert svc.needs == [MongoPingProbe("mongodb://dbhost:27017/"), DaskWorkersProbe("tcp://sched:8786", count=0)]


def test_batch_script_runs_python_with_args(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "job.py"
    script.write_text("print('hi')\n")
    s = make(tmp_path, role="frontend", **FRONTEND)
    svc = only(build_plan(s, resolve_batch("job.py", ["a", "b c"], s)))
    assert svc.argv == [PY, str(script.resolve()), "a", "b c"]
    assert svc.main is True


def test_batch_found_in_cwd_before_work_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_notebook(tmp_path / "work" / "flow.ipynb")
    here = write_notebook(tmp_path / "flow.ipynb")
    s = make(tmp_path, role="frontend", **FRONTEND)
    assert resolve_batch("flow.ipynb", [], s).path == here.resolve()


def test_batch_absolute_path(tmp_path):
    nb = write_notebook(tmp_path / "elsewhere" / "x.ipynb")
    s = make(tmp_path, role="frontend", **FRONTEND)
    assert resolve_batch(str(nb), [], s).path == nb.resolve()


def test_batch_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = make(tmp_path, role="frontend", **FRONTEND)
    with pytest.raises(BatchError, match="'nothere.ipynb': no such file"):
        resolve_batch("nothere.ipynb", [], s)


def test_batch_missing_file_names_the_work_dir_as_the_user_knows_it(tmp_path, monkeypatch):
    """In a container the work dir is /home: the message says it is the directory mounted
    there (with Compose: MSPASS_WORK_DIR on the host), where the user looks for the file."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(tmp_path)
    s = make(tmp_path, role="frontend", **FRONTEND)
    with pytest.raises(BatchError) as inside:
        resolve_batch("nothere.ipynb", [], s, in_container=True)
    assert str(inside.value) == (f"--batch 'nothere.ipynb': no such file (looked in {tmp_path}; {work}, the work dir: "
                                 "the host directory mounted there, e.g. MSPASS_WORK_DIR (./work) with Compose)")
    monkeypatch.chdir(work)  # the image's cwd is the work dir: one place, said once
    with pytest.raises(BatchError) as outside:
        resolve_batch("nothere.ipynb", [], s, in_container=False)
    assert str(outside.value) == f"--batch 'nothere.ipynb': no such file (looked in {work}, the work dir)"


def test_the_executed_notebook_is_the_owners_alone_before_papermill_writes_it(tmp_path, monkeypatch):
    """papermill writes with open(path, "w"), which keeps the mode of the file made here."""
    monkeypatch.chdir(tmp_path)
    write_notebook(tmp_path / "work" / "flow.ipynb")
    s = make(tmp_path, role="frontend", **FRONTEND)
    svc = only(build_plan(s, resolve_batch("flow.ipynb", [], s)))
    out = tmp_path / "work" / "logs" / "flow.executed.ipynb"
    out.parent.mkdir()  # as the role's directories are made before anything starts
    old_umask = os.umask(0o022)
    try:
        svc.before_start()
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        with open(out, "w") as f:  # as papermill's LocalHandler.write does
            f.write("{}")
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        out.chmod(0o644)  # left readable by an earlier run
        svc.before_start()
        assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_text() == "{}"  # papermill empties it, not we
    finally:
        os.umask(old_umask)


def test_batch_wrong_suffix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    s = make(tmp_path, role="frontend", **FRONTEND)
    with pytest.raises(BatchError, match=r"valid: \.ipynb, \.py"):
        resolve_batch("notes.txt", [], s)


NOTEBOOK_V4 = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.mark.parametrize("text,reason", [
    ("", "Notebook does not appear to be JSON: ''"),
    ("{not json", "Notebook does not appear to be JSON: '{not json"),
    (json.dumps({**NOTEBOOK_V4, "nbformat": 99}), "Unsupported nbformat version 99"),
    (json.dumps({"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
     "The notebook is invalid and is missing an expected key: metadata"),
    ("[]", "'list' object has no attribute"),
])
def test_batch_notebook_that_does_not_parse_is_refused(tmp_path, monkeypatch, text, reason):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flow.ipynb").write_text(text)
    s = make(tmp_path, role="frontend", **FRONTEND)
    with pytest.raises(BatchError) as info:
        resolve_batch("flow.ipynb", [], s)
    assert str(info.value).startswith(f"--batch 'flow.ipynb': {tmp_path / 'flow.ipynb'} is not a valid notebook: ")
    assert reason in str(info.value)


def test_batch_notebook_without_cell_ids_runs(tmp_path, monkeypatch):
    """nbformat only warns about cells without ids (papermill runs them): no refusal, no warning."""
    monkeypatch.chdir(tmp_path)
    cell = {"cell_type": "code", "source": "1", "metadata": {}, "outputs": [], "execution_count": None}
    (tmp_path / "old.ipynb").write_text(json.dumps({**NOTEBOOK_V4, "cells": [cell]}))
    s = make(tmp_path, role="frontend", **FRONTEND)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_batch("old.ipynb", [], s).path == (tmp_path / "old.ipynb").resolve()


def test_batch_script_with_a_syntax_error_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.py").write_text("import os\n\nprint('a'\n")
    s = make(tmp_path, role="frontend", **FRONTEND)
    with pytest.raises(BatchError) as info:
        resolve_batch("job.py", [], s)
    assert str(info.value) == f"--batch 'job.py': {tmp_path / 'job.py'}:3: '(' was never closed"


def test_batch_script_is_compiled_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w')\n")
    s = make(tmp_path, role="frontend", **FRONTEND)
    assert resolve_batch("job.py", [], s).path == (tmp_path / "job.py").resolve()
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("uri", ["mongodb://a:27017,b:27017/?replicaSet=rs0", "mongodb+srv://cluster.example.org/"])
def test_frontend_waits_for_a_database_of_several_servers(tmp_path, uri):
    s = make(tmp_path, role="frontend", MSPASS_DB_ADDRESS=uri, MSPASS_SCHEDULER_ADDRESS="sched")
    svc = only(build_plan(s))
    assert svc.needs == [MongoPingProbe(uri), DaskWorkersProbe("tcp://sched:8786", count=0)]
    assert (svc.env["MSPASS_DB_URI"], svc.env["MSPASS_DB_ADDRESS"], svc.env["MONGODB_PORT"]) == (uri, uri, "")


def test_batch_for_role_db_refused(tmp_path):
    nb = write_notebook(tmp_path / "x.ipynb")
    s = make(tmp_path, role="db")
    with pytest.raises(BatchError, match="--batch is for roles all and frontend; MSPASS_ROLE='db'"):
        build_plan(s, Batch(nb))


def test_attach_plan_runs_only_the_batch(tmp_path):
    nb = write_notebook(tmp_path / "x.ipynb")
    s = make(tmp_path)
    plan = attach_plan(s, Batch(nb))
    assert plan.attached and plan.names() == ["batch"]
    assert plan.services[0].needs  # waits for the services already running here


# ---------------------------------------------------------------------- frontend: jupyter


def jupyter(tmp_path, **kw):
    s = make(tmp_path, role="frontend", **{**FRONTEND, **kw})
    return s, only(build_plan(s))


def config_path(tmp_path) -> Path:
    return tmp_path / "run" / "jupyter-node1-8888" / "jupyter_server_config.json"


def test_jupyter_argv_has_no_token(tmp_path):
    _, svc = jupyter(tmp_path, MSPASS_JUPYTER_TOKEN="sekrit123")
    assert svc.name == "jupyter"
    assert svc.argv == [PY, "-m", "jupyter", "lab", f"--config={config_path(tmp_path)}"]
    assert not any("sekrit123" in a for a in svc.argv)


def test_jupyter_config_file_private_with_token(tmp_path):
    s, svc = jupyter(tmp_path, MSPASS_JUPYTER_TOKEN="sekrit123")
    svc.before_start()
    cfg_file = config_path(tmp_path)
    assert stat.S_IMODE(cfg_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg_file.parent.stat().st_mode) == 0o700
    cfg = json.loads(cfg_file.read_text())
    assert cfg["PasswordIdentityProvider"] == {"token": "sekrit123"}
    assert cfg["ServerApp"]["port"] == 8888
    assert cfg["ServerApp"]["ip"] == "0.0.0.0"
    assert cfg["ServerApp"]["root_dir"] == str(s.work_dir)
    assert cfg["ServerApp"]["port_retries"] == 0
    svc.after_stop()
    assert not cfg_file.parent.exists()


def test_jupyter_password_stored_hashed(tmp_path):
    from jupyter_server.auth import passwd_check

    _, svc = jupyter(tmp_path, MSPASS_JUPYTER_PWD="hunter2pw")
    assert not any("hunter2pw" in a for a in svc.argv)
    svc.before_start()
    text = config_path(tmp_path).read_text()
    assert "hunter2pw" not in text
    identity = json.loads(text)["PasswordIdentityProvider"]
    assert identity["token"] == ""
    assert identity["hashed_password"] != "hunter2pw"
    assert passwd_check(identity["hashed_password"], "hunter2pw")
    assert "log in with MSPASS_JUPYTER_PWD" in svc.ready_message


def test_jupyter_random_token_in_url_not_argv(tmp_path):
    _, svc = jupyter(tmp_path)
    svc.before_start()
    token = json.loads(config_path(tmp_path).read_text())["PasswordIdentityProvider"]["token"]
    assert len(token) >= 24
    assert f"http://127.0.0.1:8888/lab?token={token}" in svc.ready_message
    assert not any(token in a for a in svc.argv)


def test_jupyter_env_probe_and_needs(tmp_path):
    s, svc = jupyter(tmp_path, MSPASS_JUPYTER_TOKEN="sekrit123")
    for key, value in s.client_env().items():
        assert svc.env[key] == value
    assert svc.env["JUPYTER_RUNTIME_DIR"] == str(tmp_path / "run" / "jupyter-node1-8888" / "runtime")
    assert svc.env["MSPASS_DB_ADDRESS"] == "dbhost"
    assert svc.env["DASK_SCHEDULER_ADDRESS"] == "tcp://sched:8786"
    assert "sekrit123" not in json.dumps(svc.env)
    assert svc.probe == HttpProbe("http://127.0.0.1:8888/api", expect="version")
    assert svc.needs == [MongoPingProbe("mongodb://dbhost:27017/"), DaskWorkersProbe("tcp://sched:8786", count=0)]
    assert svc.cwd == s.work_dir
    assert svc.log == tmp_path / "work" / "logs" / "jupyter-node1.log"


def test_jupyter_port_in_config_path(tmp_path):
    _, svc = jupyter(tmp_path, JUPYTER_PORT="9999")
    assert svc.argv[-1] == f"--config={tmp_path / 'run' / 'jupyter-node1-9999' / 'jupyter_server_config.json'}"
    assert svc.probe.url == "http://127.0.0.1:9999/api"


# ---------------------------------------------------------------------- role all and others


def test_role_all_order(tmp_path):
    plan = build_plan(make(tmp_path))
    assert plan.role == "all"
    assert plan.names() == ["db", "scheduler", "worker", "jupyter"]


def test_role_all_batch_replaces_jupyter(tmp_path):
    nb = write_notebook(tmp_path / "x.ipynb")
    plan = build_plan(make(tmp_path), Batch(nb))
    assert plan.names() == ["db", "scheduler", "worker", "batch"]
    assert plan.services[-1].main is True
    assert plan.services[-1].after == ("db", "scheduler", "worker")  # the notebook finds all ready
    assert [s.after for s in plan.services[:-1]] == [(), (), ()]


def test_role_all_spark_worker_waits_for_its_master(tmp_path):
    db, master, wrk, jup = build_plan(make(tmp_path, MSPASS_SCHEDULER="spark")).services
    assert [type(p) for p in wrk.needs] == [TcpProbe]  # its registration retries are slow


def test_role_all_services_use_this_host(tmp_path):
    s = make(tmp_path, MSPASS_JUPYTER_TOKEN="sekrit123")
    db, sched, wrk, jup = build_plan(s).services
    assert wrk.argv[4] == "tcp://127.0.0.1:8786"
    assert wrk.needs == []  # starts beside its scheduler: a dask worker connects when it comes up
    assert jup.needs == [] and jup.after == ()  # Jupyter needs nothing to start
    assert jup.env["MSPASS_DB_ADDRESS"] == "127.0.0.1"
    assert jup.env["DASK_SCHEDULER_ADDRESS"] == "tcp://127.0.0.1:8786"


def test_role_all_asks_its_own_scheduler_for_the_worker(tmp_path):
    db, sched, wrk, jup = build_plan(make(tmp_path)).services
    assert sched.probe.url == "http://127.0.0.1:8787/health"
    # over dask's comm, never the dashboard's identity route (HTTP 500 while bags run)
    assert wrk.probe == DaskWorkersProbe("tcp://127.0.0.1:8786", "node1", 1)


SHARDED = {"MSPASS_BIND_ADDRESS": "10.0.0.5"}  # a node's address: what the members are called


def test_shard_is_a_single_member_replica_set_named_by_its_id_with_data_of_its_own(tmp_path):
    s = make(tmp_path, role="shard", found=("mongod",), MSPASS_SHARD_ID="shard-2", MSPASS_DB_READY_FILE=
             tmp_path / "ready" / "db", **SHARDED)
    svc = only(build_plan(s))
    data = tmp_path / "work" / "db" / "shard-shard-2"
    assert svc.name == "shard"
    assert svc.argv == ["mongod", "--shardsvr", "--replSet", "shard-2", "--dbpath", str(data), "--port", "27017",
                        "--bind_ip", "10.0.0.5"]
    # ready when it is that set's primary; the set is initiated (or moved) by setup, first
    assert svc.probe == ReplicaSetPrimaryProbe("mongodb://10.0.0.5:27017/", "shard-2")
    assert svc.setup is not None and "member 10.0.0.5:27017" in svc.summary
    assert svc.env == {"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}
    assert svc.before_start() is None  # new data: nothing to restore, no mongod started alone
    assert data.is_dir() and stat.S_IMODE(data.stat().st_mode) == 0o700
    svc.on_ready()
    assert (tmp_path / "ready" / "db").exists()


def test_dbmanager_runs_the_config_server_then_mongos_once_every_shard_has_a_primary(tmp_path):
    s = make(tmp_path, role="dbmanager", found=("mongod",), MSPASS_SHARD_LIST="rs1/n2:27017 rs0/n1:27017",
             MSPASS_SHARD_DATABASE="mspass", MSPASS_SHARD_COLLECTIONS="wf_TimeSeries:_id", MONGODB_PORT="27100",
             **SHARDED)
    config, mongos = build_plan(s).services
    assert config.argv == ["mongod", "--configsvr", "--replSet", "configserver", "--dbpath",
                           str(tmp_path / "work" / "db" / "config"), "--port", "27101", "--bind_ip", "10.0.0.5"]
    assert config.probe == ReplicaSetPrimaryProbe("mongodb://10.0.0.5:27101/", "configserver")
    assert config.setup is not None and config.needs == [] and config.after == ()
    # a new config server has no shards to move: nothing runs before it (a restore starts
    # mongod alone on existing data first, to give each registered shard its new host)
    assert config.before_start() is None and (tmp_path / "work" / "db" / "config").is_dir()
    assert mongos.argv == ["mongos", "--configdb", "configserver/10.0.0.5:27101", "--port", "27100",
                           "--bind_ip", "10.0.0.5"]
    assert mongos.after == ("config",)
    assert mongos.needs == [ReplicaSetPrimaryProbe("mongodb://n2:27017/", "rs1"),
                            ReplicaSetPrimaryProbe("mongodb://n1:27017/", "rs0")]
    assert mongos.probe == MongoPingProbe("mongodb://10.0.0.5:27100/", write=True)
    assert mongos.setup is not None and mongos.on_ready is not None
    assert mongos.log == tmp_path / "work" / "logs" / "mongos-node1.log"
    assert "shards rs1, rs0" in mongos.summary


def test_sharded_roles_with_a_tmp_database_copy_their_own_directories(tmp_path):
    s = make(tmp_path, role="shard", found=("mongod",), MSPASS_SHARD_ID="s0", MSPASS_DB_PATH="tmp")
    svc = only(build_plan(s))
    local = Path(tempfile.gettempdir()) / "mspass-shard-node1-27017"
    assert option_values(svc.argv, "--dbpath") == [str(local)]
    assert svc.after_stop is not None and f"copied to {tmp_path / 'work' / 'db' / 'shard-s0'}" in svc.summary
    config, _ = build_plan(make(tmp_path, role="dbmanager", found=("mongod",), MSPASS_SHARD_LIST="s0/n:27017",
                                MSPASS_DB_PATH="tmp")).services
    assert option_values(config.argv, "--dbpath") == [str(Path(tempfile.gettempdir()) / "mspass-config-node1-27017")]


@pytest.mark.parametrize("role,extra,expected", [
    ("all", {}, ["work", "logs", "run", "db", "work/work"]),
    ("db", {}, ["work", "logs", "run", "db"]),
    ("worker", {"MSPASS_SCHEDULER_ADDRESS": "s"}, ["work", "logs", "run", "work/work"]),
    ("frontend", FRONTEND, ["work", "logs", "run"]),
])
def test_directories_per_role(tmp_path, role, extra, expected):
    s = make(tmp_path, role=role, **extra)
    names = {"work": s.work_dir, "logs": s.log_dir, "run": s.run_dir, "db": s.db_dir, "work/work": s.worker_dir}
    private = {"run", "db"}  # state and private config; the database's files
    assert directories(s) == [(names[n], 0o700 if n in private else 0o777) for n in expected]


def test_dask_worker_threads_follow_the_cpus_this_container_may_use(tmp_path, monkeypatch):
    from mspass_roles import resources

    monkeypatch.setattr(resources, "cpu_count", lambda: 4)
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched")
    assert option_values(only(build_plan(s)).argv, "--nthreads") == ["4"]
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_WORKER_ARG="--nworkers 2")
    assert option_values(only(build_plan(s)).argv, "--nthreads") == ["2"]
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_WORKER_ARG="--nthreads 3")
    assert option_values(only(build_plan(s)).argv, "--nthreads") == ["3"]  # the user's, once


def test_dask_worker_auto_memory_is_this_containers_memory(tmp_path, monkeypatch):
    from mspass_roles import resources

    monkeypatch.setattr(resources, "memory_bytes", lambda: 8 << 30)
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_DASK_WORKER_MEMORY_LIMIT="auto",
             MSPASS_WORKER_ARG="--nworkers 2")
    assert option_values(only(build_plan(s)).argv, "--memory-limit") == [str(4 << 30)]


def test_probes_reach_an_ipv6_bind_address(tmp_path):
    s = make(tmp_path, role="all", found=("ferretdb",), MSPASS_BIND_ADDRESS="::1")
    services = {svc.name: svc for svc in build_plan(s).services}
    assert services["scheduler"].probe.url == "http://127.0.0.1:8787/health"  # dask's dashboard: IPv4 only
    assert services["jupyter"].probe.url == "http://[::1]:8888/api"
    assert services["db"].probe.uri == "mongodb://[::1]:27017/"
    assert "--listen-addr=[::1]:27017" in services["db"].argv
    mongod = only(build_plan(make(tmp_path, role="db", MSPASS_BIND_ADDRESS="::1")))
    assert option_values(mongod.argv, "--bind_ip") == ["::1"] and "--ipv6" in mongod.argv


def test_a_repeated_worker_option_counts_as_dask_reads_it(tmp_path):
    s = make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched",
             MSPASS_WORKER_ARG="--nworkers 4 --nworkers 2")  # e.g. the HPC launcher appends one
    svc = only(build_plan(s))
    assert svc.probe.count == 2


# ---------------------------------------------------------------------- mongod on data of an older release
WRONG_VERSION = ('{"t":{"$date":"2026-11-22T10:00:00.000+00:00"},"s":"F","c":"CONTROL","id":20573,'
                 '"ctx":"initandlisten","msg":"Wrong mongod version","attr":{"error":"UPGRADE PROBLEM: Found an '
                 'invalid featureCompatibilityVersion document (ERROR: Location4926900: Invalid '
                 'featureCompatibilityVersion document in admin.system.version: { _id: \\"featureCompatibilityVersion'
                 '\\", version: \\"5.0\\" }. :: caused by :: Invalid feature compatibility version value"}}')


@pytest.mark.parametrize("found, running, path", [
    ("7.0", "8.0", []), ("6.0", "8.0", ["7.0"]), ("4.4", "8.0", ["5.0", "6.0", "7.0"]), (None, "8.0", ["7.0"]),
    ("5.0", "7.0", ["6.0"]), ("5.0", "9.9", []),
])
def test_upgrade_path_goes_through_every_major_release_in_between(found, running, path):
    assert db_role.upgrade_path(found, running) == path


def test_mongod_exit_62_names_the_datas_version_and_the_upgrade_path(tmp_path):
    log = tmp_path / "db-node1.log"
    log.write_text("=== mspass db: starting db\n" + WRONG_VERSION + "\n")
    said = db_role.explain_mongod_exit(62, log, tmp_path / "db", running="8.0")
    assert said.startswith(f"the data in {tmp_path / 'db'} has feature compatibility version 5.0, which mongod 8.0 "
                           "cannot open")
    assert "Open it with MongoDB 6.0 then 7.0" in said and "Data from an older MongoDB" in said
    assert db_role.explain_mongod_exit(1, log, tmp_path / "db", running="8.0") is None  # other codes: the tail says


def test_mongod_services_explain_their_exit_codes(tmp_path):
    assert only(build_plan(make(tmp_path, role="db", found=("mongod",)))).explain_exit is not None
    assert only(build_plan(make(tmp_path, role="db", found=("ferretdb",)))).explain_exit is None
    shard = only(build_plan(make(tmp_path, role="shard", found=("mongod",), MSPASS_SHARD_ID="s0")))
    assert shard.explain_exit(62) and shard.explain_exit(0) is None


# ------------------------------------------------------------- batch run: the user's error first (issue 26)


def test_a_failed_cell_is_reported_with_the_users_error_first():
    from mspass_roles.papermill_run import failure_report

    class Failed(Exception):
        cell_index, exec_count, source = 2, 2, 'raise RuntimeError("deliberate failure 42")'
        ename, evalue = "RuntimeError", "deliberate failure 42"
        traceback = ["\x1b[0;31m-----\x1b[0m", "\x1b[0;31mRuntimeError\x1b[0m   Traceback (most recent call last)",
                     "Cell \x1b[0;32mIn[2], line 1\x1b[0m", "\x1b[0;31mRuntimeError\x1b[0m: deliberate failure 42"]

    report = failure_report(Failed(), "nb.ipynb", "logs/nb.executed.ipynb").splitlines()
    assert report[0] == ("batch: the notebook nb.ipynb failed in cell In [2] (cell 3 of the notebook): "
                         "RuntimeError: deliberate failure 42")
    assert "\x1b" not in "\n".join(report)
    assert report[-2] == "RuntimeError: deliberate failure 42"
    assert report[-1] == "batch: the executed notebook, with this error in it: logs/nb.executed.ipynb"
    assert not any(line.startswith("Traceback (most recent call last)") for line in report)


def test_the_batch_wrapper_finds_the_notebook_and_its_copy_in_papermills_arguments():
    from mspass_roles.papermill_run import _paths

    assert _paths(["in.ipynb", "out.ipynb", "--cwd", "/w", "-p", "n", "3"]) == ("in.ipynb", "out.ipynb")
    assert _paths(["--help"]) == ("", "")


def test_the_all_in_one_keeps_its_database_and_dask_to_its_container(tmp_path):
    """Closed by default: the database and dask have no login, so in role all they listen on
    loopback; Jupyter (its token) and the dashboard listen on every interface, to be published."""
    services = {svc.name: svc for svc in build_plan(make(tmp_path, role="all", found=("ferretdb",))).services}
    assert "--listen-addr=127.0.0.1:27017" in services["db"].argv
    assert option_values(services["scheduler"].argv, "--host") == ["127.0.0.1"]
    assert option_values(services["scheduler"].argv, "--dashboard-address") == [":8787"]
    assert option_values(services["worker"].argv, "--host") == ["127.0.0.1"]
    config = services["jupyter"]
    config.before_start()
    written = json.loads(next((tmp_path / "run").glob("jupyter-*/jupyter_server_config.json")).read_text())
    assert written["ServerApp"]["ip"] == "0.0.0.0"


@pytest.mark.parametrize("told", [{"MSPASS_BIND_ADDRESS": "0.0.0.0"}, {"MSPASS_SERVICE_ADDRESS": "0.0.0.0"}])
def test_the_all_in_one_opens_its_database_and_dask_when_told(tmp_path, told):
    services = {svc.name: svc for svc in build_plan(make(tmp_path, role="all", found=("ferretdb",), **told)).services}
    assert "--listen-addr=0.0.0.0:27017" in services["db"].argv
    assert "--host" not in services["scheduler"].argv and "--host" not in services["worker"].argv


def test_separate_roles_listen_on_the_network_as_before(tmp_path):
    db = only(build_plan(make(tmp_path, role="db", found=("ferretdb",))))
    assert "--listen-addr=0.0.0.0:27017" in db.argv
    assert "--host" not in only(build_plan(make(tmp_path, role="scheduler"))).argv
