"""Unit tests of mspass_roles/settings.py: parsing and validating the environment contract.

Pure: every Settings is built from an explicit env dict, a fake `which` and an explicit
in_container flag; every directory lives under tmp_path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mspass_roles import settings as settings_mod
from mspass_roles.settings import BY_NAME, VARIABLE_NAMES, Address, SettingsError
from tests.support.settings import make, tls_env

# ---------------------------------------------------------------------- helpers


def problems_of(tmp_path, role=None, found=("mongod", "ferretdb"), in_container=False, **kw) -> list[str]:
    with pytest.raises(SettingsError) as info:
        make(tmp_path, role=role, found=found, in_container=in_container, **kw)
    err = info.value
    assert str(err) == "\n".join(err.problems)
    return err.problems


def the_problem(problems: list[str], *needles: str) -> str:
    """The one problem line that contains every needle."""
    hits = [p for p in problems if all(n in p for n in needles)]
    assert len(hits) == 1, f"expected one problem with {needles!r} in {problems!r}"
    return hits[0]


FRONTEND = {"MSPASS_DB_ADDRESS": "dbhost", "MSPASS_SCHEDULER_ADDRESS": "sched"}


def emulate_mspasspy_client(env: dict[str, str]) -> tuple[str, str]:
    """How mspasspy.client.Client composes addresses from the environment (2.4.3: it appends
    ":" + MONGODB_PORT to MSPASS_DB_ADDRESS when MONGODB_PORT is not empty)."""
    db = env["MSPASS_DB_ADDRESS"] + (":" + env["MONGODB_PORT"] if env["MONGODB_PORT"] else "")
    sched = env["MSPASS_SCHEDULER_ADDRESS"] + ":" + env["DASK_SCHEDULER_PORT"]
    return db, sched


ONE_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):\d+")

# ---------------------------------------------------------------------- defaults


def test_defaults_role_all(tmp_path):
    s = make(tmp_path)
    work = tmp_path / "work"
    assert s.role == "all"
    assert s.scheduler == "dask"
    assert s.db_engine == "mongodb"
    assert s.bind_address == "0.0.0.0"
    assert s.local_host == "127.0.0.1"
    assert s.db_address == Address("127.0.0.1", 27017)
    assert s.scheduler_address == Address("127.0.0.1", 8786)
    assert (s.mongodb_port, s.dask_scheduler_port, s.dask_dashboard_port, s.spark_master_port,
            s.jupyter_port) == (27017, 8786, 8787, 7077, 8888)
    assert s.work_dir == work
    assert (s.db_dir, s.log_dir, s.worker_dir) == (work / "db", work / "logs", work / "work")
    assert s.run_dir == tmp_path / "run"
    assert s.db_path == "scratch"
    assert s.worker_args.argv == ()
    assert s.memory_limit == "0"
    assert s.jupyter_token is None and s.jupyter_password is None
    assert (s.sleep_time, s.wait_timeout, s.ready_timeout, s.stop_timeout) == (2, 300, 180, 60)
    assert s.db_ready_file is None and s.mspass_home is None  # mspasspy not installed (make's default)
    assert s.runs_db


def test_defaults_role_db(tmp_path):
    s = make(tmp_path, role="db")
    assert s.role == "db"
    assert s.db_engine == "mongodb"
    assert s.db_address == Address("127.0.0.1", 27017)
    assert s.scheduler_address is None


def test_defaults_role_scheduler(tmp_path):
    s = make(tmp_path, role="scheduler", found=())
    assert s.scheduler_address == Address("127.0.0.1", 8786)
    assert s.db_address is None
    assert s.db_engine == ""
    assert not s.runs_db


def test_defaults_role_worker(tmp_path):
    s = make(tmp_path, role="worker", found=(), MSPASS_SCHEDULER_ADDRESS="sched")
    assert s.scheduler_address == Address("sched", 8786)
    assert s.db_address is None
    assert s.db_engine == ""
    assert s.memory_limit == "0"


def test_defaults_role_frontend(tmp_path):
    s = make(tmp_path, role="frontend", found=(), **FRONTEND)
    assert s.db_address == Address("dbhost", 27017)
    assert s.scheduler_address == Address("sched", 8786)
    assert s.db_engine == ""


def test_defaults_role_dbmanager(tmp_path):
    s = make(tmp_path, role="dbmanager", found=("mongod",), MSPASS_SHARD_LIST="rs0/h0:27017 rs1/h1:27017")
    assert s.db_engine == "mongodb"
    assert s.shard_list == ("rs0/h0:27017", "rs1/h1:27017")


def test_defaults_role_shard(tmp_path):
    s = make(tmp_path, role="shard", found=("mongod",), MSPASS_SHARD_ID="shard-0")
    assert s.db_engine == "mongodb"
    assert s.shard_id == "shard-0"


def test_role_argument_overrides_env(tmp_path):
    s = make(tmp_path, role="db", MSPASS_ROLE="scheduler")
    assert s.role == "db"


def test_blank_values_mean_default(tmp_path):
    s = make(tmp_path, MSPASS_ROLE="  ", MONGODB_PORT="", MSPASS_SCHEDULER=" ")
    assert (s.role, s.mongodb_port, s.scheduler) == ("all", 27017, "dask")


# ---------------------------------------------------------------------- all problems at once


def test_every_invalid_setting_reported_together(tmp_path):
    problems = problems_of(
        tmp_path,
        MSPASS_ROLE="wokrer",
        MSPASS_SCHEDULER="dusk",
        MONGODB_PORT="abc",
        DASK_SCHEDULER_PORT="70000",
        MSPASS_DB_ENGINE="postgres",
        MSPASS_DB_ADDRESS="db:99999",
        MSPASS_SCHEDULER_ADDRESS="http://sched:8786",
        MSPASS_WORKER_ARG="--resources 'GPU=1",
        MSPASS_DASK_WORKER_MEMORY_LIMIT="lots",
        MSPASS_DB_PATH="ramdisk",
        MSPASS_SLEEP_TIME="0",
        MSPASS_WAIT_TIMEOUT="0",
        MSPASS_READY_TIMEOUT="-5",
        MSPASS_STOP_TIMEOUT="soon",
        MSPASS_JUPYTER_TOKEN="bad token!",
    )
    role = the_problem(problems, "MSPASS_ROLE='wokrer'")
    assert "valid: all, db, dbmanager, shard, scheduler, worker, frontend" in role
    assert "did you mean 'worker'" in role
    sched = the_problem(problems, "MSPASS_SCHEDULER='dusk'")
    assert "valid: dask, spark, none" in sched and "did you mean 'dask'" in sched
    assert "valid: an integer from 1 to 65535" in the_problem(problems, "MONGODB_PORT='abc'", "not a port")
    assert "valid: an integer from 1 to 65535" in the_problem(problems, "DASK_SCHEDULER_PORT='70000'")
    assert "valid: auto, mongodb, ferretdb" in the_problem(problems, "MSPASS_DB_ENGINE='postgres'")
    the_problem(problems, "MSPASS_DB_ADDRESS='db:99999'", "invalid port", "1 to 65535")
    the_problem(problems, "MSPASS_SCHEDULER_ADDRESS='http://sched:8786'", "scheme 'http'", "tcp://HOST:PORT")
    the_problem(problems, "MSPASS_WORKER_ARG=", "cannot be split")
    the_problem(problems, "MSPASS_DASK_WORKER_MEMORY_LIMIT='lots'", "not a memory size", "4GB")
    assert "valid: scratch, tmp" in the_problem(problems, "MSPASS_DB_PATH='ramdisk'")
    for name, raw in (("MSPASS_SLEEP_TIME", "0"), ("MSPASS_WAIT_TIMEOUT", "0"),
                      ("MSPASS_READY_TIMEOUT", "-5"), ("MSPASS_STOP_TIMEOUT", "soon")):
        the_problem(problems, f"{name}={raw!r}", "is not a duration here; valid: from ")
    the_problem(problems, "MSPASS_JUPYTER_TOKEN", "letters, digits")
    assert len(problems) == 15


def test_problems_never_show_the_token(tmp_path):
    problems = problems_of(tmp_path, MSPASS_JUPYTER_TOKEN="sekrit 123")
    assert not any("sekrit" in p for p in problems)


# ---------------------------------------------------------------------- ports


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "65536", "80.5"])
def test_invalid_port(tmp_path, raw):
    problems = problems_of(tmp_path, JUPYTER_PORT=raw)
    assert problems == [f"JUPYTER_PORT={raw!r} is not a port; valid: an integer from 1 to 65535"]


def test_ports_parsed(tmp_path):
    s = make(tmp_path, MONGODB_PORT="1", DASK_SCHEDULER_PORT="65535", DASK_DASHBOARD_PORT="9001",
             SPARK_MASTER_PORT="7078", JUPYTER_PORT="9999")
    assert (s.mongodb_port, s.dask_scheduler_port, s.dask_dashboard_port, s.spark_master_port,
            s.jupyter_port) == (1, 65535, 9001, 7078, 9999)
    assert s.db_address.port == 1 and s.scheduler_address.port == 65535


def test_port_clash_in_role_all(tmp_path):
    problems = problems_of(tmp_path, JUPYTER_PORT="27017")
    the_problem(problems, "JUPYTER_PORT=27017 clashes with MONGODB_PORT=27017")


def test_port_clash_dashboard_and_scheduler(tmp_path):
    problems = problems_of(tmp_path, role="scheduler", DASK_DASHBOARD_PORT="8786")
    the_problem(problems, "DASK_DASHBOARD_PORT=8786 clashes with DASK_SCHEDULER_PORT=8786")


@pytest.mark.parametrize("role,extra", [
    ("db", {}),
    ("frontend", FRONTEND),
    ("scheduler", {}),
])
def test_same_ports_fine_when_role_binds_only_one(tmp_path, role, extra):
    s = make(tmp_path, role=role, JUPYTER_PORT="27017", DASK_DASHBOARD_PORT="27017", **extra)
    assert s.jupyter_port == 27017 and s.mongodb_port == 27017


# ---------------------------------------------------------------------- addresses


@pytest.mark.parametrize("raw,host,port,uri", [
    ("dbhost", "dbhost", 27017, None),
    ("dbhost:27018", "dbhost", 27018, None),
    ("10.0.0.5:27019", "10.0.0.5", 27019, None),
    ("mongodb://user:pw@dbhost:27018/?authSource=admin", "dbhost", 27018,
     "mongodb://user:pw@dbhost:27018/?authSource=admin"),
    ("mongodb://dbhost/mydb", "dbhost", 27017, "mongodb://dbhost/mydb"),
    ("[::1]:27018", "::1", 27018, None),
])
def test_db_address_forms(tmp_path, raw, host, port, uri):
    s = make(tmp_path, role="frontend", found=(), **{**FRONTEND, "MSPASS_DB_ADDRESS": raw})
    assert s.db_address == Address(host, port, uri)


def test_db_address_uri_kept_for_clients(tmp_path):
    raw = "mongodb://user:pw@dbhost:27018/?authSource=admin"
    s = make(tmp_path, role="frontend", found=(), **{**FRONTEND, "MSPASS_DB_ADDRESS": raw})
    assert s.db_address.mongodb_uri == raw
    assert s.client_env()["MSPASS_DB_URI"] == raw


def test_db_address_host_gets_mongodb_uri(tmp_path):
    s = make(tmp_path, role="frontend", found=(), **FRONTEND)
    assert s.db_address.mongodb_uri == "mongodb://dbhost:27017/"


def test_ipv6_hostport_bracketed(tmp_path):
    s = make(tmp_path, role="frontend", found=(), **{**FRONTEND, "MSPASS_DB_ADDRESS": "[::1]:27018"})
    assert s.db_address.hostport == "[::1]:27018"
    assert s.db_address.mongodb_uri == "mongodb://[::1]:27018/"


@pytest.mark.parametrize("raw,port_env,host,port", [
    ("sched", {}, "sched", 8786),
    ("sched", {"DASK_SCHEDULER_PORT": "9000"}, "sched", 9000),
    ("sched:8800", {}, "sched", 8800),
    ("tcp://sched:8800", {}, "sched", 8800),
    ("tcp://sched", {}, "sched", 8786),
    ("[::1]:8800", {}, "::1", 8800),
])
def test_dask_scheduler_address_forms(tmp_path, raw, port_env, host, port):
    s = make(tmp_path, role="worker", found=(), MSPASS_SCHEDULER_ADDRESS=raw, **port_env)
    assert s.scheduler_address == Address(host, port)


@pytest.mark.parametrize("raw,port", [("spark://master:7078", 7078), ("master", 7077)])
def test_spark_scheduler_address(tmp_path, raw, port):
    s = make(tmp_path, role="frontend", found=(), MSPASS_SCHEDULER="spark",
             **{**FRONTEND, "MSPASS_SCHEDULER_ADDRESS": raw})
    assert s.scheduler_address == Address("master", port)
    env = s.client_env()
    assert env["MSPASS_SCHEDULER"] == "spark"
    assert env["MSPASS_SCHEDULER_ADDRESS"] == "master"
    assert env["SPARK_MASTER_PORT"] == str(port)
    assert env["SPARK_MASTER_URL"] == f"spark://master:{port}"
    assert "DASK_SCHEDULER_ADDRESS" not in env


def test_tcp_scheme_rejected_for_spark(tmp_path):
    problems = problems_of(tmp_path, role="worker", MSPASS_SCHEDULER="spark",
                           MSPASS_SCHEDULER_ADDRESS="tcp://master:7077")
    the_problem(problems, "MSPASS_SCHEDULER_ADDRESS='tcp://master:7077'", "scheme 'tcp'", "spark://HOST:PORT")


def test_spark_scheme_rejected_for_dask(tmp_path):
    problems = problems_of(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="spark://master:7077")
    the_problem(problems, "MSPASS_SCHEDULER_ADDRESS='spark://master:7077'", "scheme 'spark'", "tcp://HOST:PORT")


@pytest.mark.parametrize("raw,what", [
    ("sched:abc", "invalid port"),
    ("sched:0", "invalid port"),
    ("sched:70000", "invalid port"),
    ("tcp://sched:8786/path", "must not have a path"),
    ("ftp://sched:8786", "scheme 'ftp'"),
    ("not a host!", "is not an address"),
    ("[::1", "is not an address"),
    ("tcp://[::1:8786", "is not an address"),
])
def test_invalid_scheduler_address(tmp_path, raw, what):
    problems = problems_of(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS=raw)
    line = the_problem(problems, f"MSPASS_SCHEDULER_ADDRESS={raw!r}", what)
    assert "valid: HOST, HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT" in line


@pytest.mark.parametrize("raw,what", [
    ("db:99999", "invalid port"),
    ("tcp://db:27017", "scheme 'tcp'"),
    ("db host", "is not an address"),
    ("[::1", "is not an address"),
    ("mongodb://[::1", "is not an address"),
    ("mongodb://db:0", "is not an address"),
    ("mongodb+srv://[::1", "is not an address"),
])
def test_invalid_db_address(tmp_path, raw, what):
    problems = problems_of(tmp_path, role="frontend", **{**FRONTEND, "MSPASS_DB_ADDRESS": raw})
    line = the_problem(problems, f"MSPASS_DB_ADDRESS={raw!r}", what)
    assert "mongodb://HOST:PORT" in line


def test_server_role_address_must_match_its_port(tmp_path):
    problems = problems_of(tmp_path, role="db", MSPASS_DB_ADDRESS="dbhost:27018")
    the_problem(problems, "MSPASS_DB_ADDRESS='dbhost:27018' names port 27018", "MONGODB_PORT=27017")
    problems = problems_of(tmp_path, role="all", MSPASS_DB_ADDRESS="mongodb://dbhost:27018/")
    the_problem(problems, "MSPASS_DB_ADDRESS='mongodb://dbhost:27018/' names port 27018", "MONGODB_PORT=27017")
    s = make(tmp_path, role="db", MSPASS_DB_ADDRESS="mongodb://dbhost:27018/", MONGODB_PORT="27018")
    assert s.db_address == Address("dbhost", 27018, "mongodb://dbhost:27018/")


REPLICA_SET = "mongodb://a:27017,b:27018/?replicaSet=rs0"
SRV = "mongodb+srv://cluster.example.org/"


def test_db_address_several_hosts(tmp_path):
    s = make(tmp_path, role="frontend", found=(), **{**FRONTEND, "MSPASS_DB_ADDRESS": REPLICA_SET})
    assert s.db_address == Address("a", 27017, REPLICA_SET, single_host=False)
    assert s.db_address.mongodb_uri == REPLICA_SET
    env = s.client_env()
    assert (env["MSPASS_DB_URI"], env["MSPASS_DB_ADDRESS"], env["MONGODB_PORT"]) == (REPLICA_SET, REPLICA_SET, "")
    assert s.resolved()["MSPASS_DB_ADDRESS"] == REPLICA_SET


def test_db_address_srv(tmp_path):
    raw = "mongodb+srv://user:pw@Cluster.Example.org/mydb?retryWrites=true&srvMaxHosts=2"
    s = make(tmp_path, role="frontend", found=(), **{**FRONTEND, "MSPASS_DB_ADDRESS": raw})
    assert s.db_address == Address("cluster.example.org", 0, raw, single_host=False)
    env = s.client_env()
    assert (env["MSPASS_DB_URI"], env["MSPASS_DB_ADDRESS"], env["MONGODB_PORT"]) == (raw, raw, "")
    # `config` shows it with user and password masked, as every message does
    assert s.resolved()["MSPASS_DB_ADDRESS"] == "mongodb+srv://***@Cluster.Example.org/mydb?retryWrites=true&srvMaxHosts=2"


@pytest.mark.parametrize("raw", [REPLICA_SET, SRV])
def test_mspasspy_client_gets_the_whole_uri_of_several_servers(tmp_path, raw):
    """mspasspy's Client() hands what it composed to pymongo.MongoClient: the whole URI, no port
    appended, so pymongo sees every server and the replica set option."""
    from pymongo.uri_parser import parse_uri

    s = make(tmp_path, role="frontend", found=(), MSPASS_DB_ADDRESS=raw, MSPASS_SCHEDULER_ADDRESS="sched")
    db, _ = emulate_mspasspy_client(s.client_env())
    assert db == raw
    if raw == REPLICA_SET:  # (parsing mongodb+srv would ask DNS)
        parsed = parse_uri(db)
        assert parsed["nodelist"] == [("a", 27017), ("b", 27018)]
        assert parsed["options"]["replicaSet"] == "rs0"


@pytest.mark.parametrize("role,extra", [("db", {}), ("all", {})])
@pytest.mark.parametrize("raw", [REPLICA_SET, SRV])
def test_database_roles_refuse_several_servers(tmp_path, role, extra, raw):
    problems = problems_of(tmp_path, role=role, MSPASS_DB_ADDRESS=raw, **extra)
    line = the_problem(problems, f"MSPASS_DB_ADDRESS={raw!r}", "names several servers or a mongodb+srv:// name")
    assert f"role {role!r} runs one database server here" in line
    assert "valid: HOST, HOST:PORT or a mongodb:// URI with one HOST:PORT" in line
    assert not any("names port" in p for p in problems)  # one problem, not a port mismatch too


@pytest.mark.parametrize("raw,what", [
    ("mongodb+srv://cluster.example.org:27017/", "a mongodb+srv:// URI has no port"),
    ("mongodb+srv://a.example.org,b.example.org/", "a mongodb+srv:// URI names one host"),
    ("mongodb+srv://", "Empty host"),
    ("mongodb+srv://cluster.example.org/?tls=maybe", "The value of tls must be 'true' or 'false'"),
    ("mongodb://a:27017,b:99999/", "Port must be an integer between 0 and 65535"),
    ("mongodb://a:27017,,b:27017/", "Empty host"),
    ("mongodb://db:27017/?replicaSett=rs0", "Unknown option: replicasett. Did you mean one of (replicaset"),
    ("mongodb://db/my$db", 'Bad database name "my$db"'),
    ("mongodb://%2Ftmp%2Fmongodb.sock", "'/tmp/mongodb.sock' is no host name or IP"),
    ("MONGODB://db", "Invalid URI scheme"),
])
def test_invalid_mongodb_uri(tmp_path, raw, what):
    problems = problems_of(tmp_path, role="frontend", **{**FRONTEND, "MSPASS_DB_ADDRESS": raw})
    line = the_problem(problems, f"MSPASS_DB_ADDRESS={raw!r} is not an address: {what}")
    assert line.endswith("valid: HOST, HOST:PORT, mongodb://HOST:PORT[,HOST:PORT...][/?OPTIONS] or "
                         "mongodb+srv://HOST[/?OPTIONS]")


def test_invalid_bind_address(tmp_path):
    problems = problems_of(tmp_path, MSPASS_BIND_ADDRESS="not valid")
    the_problem(problems, "MSPASS_BIND_ADDRESS='not valid' is not an address")


@pytest.mark.parametrize("value", ["999.999.999.999", "1.2.3", "[::1", "not:an:ip"])
def test_bind_address_that_is_no_ip_address(tmp_path, value):
    problems = problems_of(tmp_path, MSPASS_BIND_ADDRESS=value)
    the_problem(problems, f"MSPASS_BIND_ADDRESS={value!r} is not an address")


@pytest.mark.parametrize("value", ["0.0.0.0", "127.0.0.1", "::", "[::1]", "fe80::1", "node-1.cluster"])
def test_bind_address_valid_forms(tmp_path, value):
    assert make(tmp_path, MSPASS_BIND_ADDRESS=value).bind_address == value


@pytest.mark.parametrize("value", ["x/../../tmp/escape", "a b", "../up", "-x", "n" * 65, "n" * 241])
def test_node_name_that_could_name_files_elsewhere_or_too_long(tmp_path, value):
    problems = problems_of(tmp_path, MSPASS_NODE_NAME=value)
    the_problem(problems, f"MSPASS_NODE_NAME={value!r} is not a name", "up to 64 letters, digits")


def test_node_name_of_64_characters(tmp_path):
    assert make(tmp_path, MSPASS_NODE_NAME="n" * 64).node_name == "n" * 64


def test_bind_address_sets_local_host(tmp_path):
    s = make(tmp_path, MSPASS_BIND_ADDRESS="10.1.2.3")
    assert s.local_host == "10.1.2.3"
    assert s.db_address == Address("10.1.2.3", 27017)
    assert s.scheduler_address == Address("10.1.2.3", 8786)


# ---------------------------------------------------------------------- client_env


def test_client_env_exports_bare_hosts_and_ports(tmp_path):
    s = make(tmp_path, role="frontend", found=(), MSPASS_DB_ADDRESS="dbhost:27018",
             MSPASS_SCHEDULER_ADDRESS="tcp://sched:8800")
    env = s.client_env()
    assert env["MSPASS_DB_ADDRESS"] == "dbhost"
    assert env["MONGODB_PORT"] == "27018"
    assert env["MSPASS_SCHEDULER_ADDRESS"] == "sched"
    assert env["DASK_SCHEDULER_PORT"] == "8800"
    assert env["DASK_SCHEDULER_ADDRESS"] == "tcp://sched:8800"
    assert env["MSPASS_SCHEDULER"] == "dask"
    assert env["SPARK_MASTER_PORT"] == "7077"
    assert env["MSPASS_WORK_DIR"] == str(tmp_path / "work")
    assert env["MSPASS_LOG_DIR"] == str(tmp_path / "work" / "logs")
    assert "MSPASS_HOME" not in env


def test_client_env_role_all_points_at_this_host(tmp_path):
    env = make(tmp_path).client_env()
    assert env["MSPASS_DB_ADDRESS"] == "127.0.0.1"
    assert env["MONGODB_PORT"] == "27017"
    assert env["MSPASS_SCHEDULER_ADDRESS"] == "127.0.0.1"
    assert env["DASK_SCHEDULER_ADDRESS"] == "tcp://127.0.0.1:8786"


def mspass_data(path: Path) -> Path:
    """A directory laid out like MsPASS's data: data/yaml/mspass.yaml."""
    (path / "data" / "yaml").mkdir(parents=True)
    (path / "data" / "yaml" / "mspass.yaml").write_text("Database: {}\n")
    return path


def test_mspass_home_defaults_to_the_installed_mspasspy(tmp_path):
    installed = str(mspass_data(tmp_path / "site-packages" / "mspasspy"))
    assert make(tmp_path, mspasspy=installed).mspass_home == installed
    assert make(tmp_path, mspasspy=installed).client_env()["MSPASS_HOME"] == installed
    assert make(tmp_path, mspasspy=None).mspass_home is None


def test_client_env_mspass_home_as_given(tmp_path):
    home = str(mspass_data(tmp_path / "mspass"))
    env = make(tmp_path, mspasspy="/elsewhere", MSPASS_HOME=home).client_env()
    assert env["MSPASS_HOME"] == home


@pytest.mark.parametrize("role", ["all", "frontend", "worker"])
def test_mspass_home_without_the_schema_is_refused_where_mspass_runs(tmp_path, role):
    problems = problems_of(tmp_path, role=role, mspasspy="/site/mspasspy", MSPASS_HOME=str(tmp_path),
                           **(FRONTEND if role != "all" else {}))
    line = the_problem(problems, f"MSPASS_HOME={str(tmp_path)!r} has no data/yaml/mspass.yaml")
    assert "unset for the installed mspasspy (/site/mspasspy)" in line


def test_mspass_home_is_not_checked_by_the_database(tmp_path):
    assert make(tmp_path, role="db", MSPASS_HOME=str(tmp_path)).mspass_home == str(tmp_path)


def test_client_env_scheduler_none(tmp_path):
    s = make(tmp_path, role="frontend", found=(), MSPASS_SCHEDULER="none", MSPASS_DB_ADDRESS="dbhost")
    env = s.client_env()
    assert env["MSPASS_SCHEDULER"] == "none"
    assert "MSPASS_SCHEDULER_ADDRESS" not in env
    assert "DASK_SCHEDULER_ADDRESS" not in env


@pytest.mark.parametrize("db_given,sched_given,db_expected,sched_expected", [
    ("dbhost", "sched", "dbhost:27017", "sched:8786"),
    ("dbhost:27018", "sched:8800", "dbhost:27018", "sched:8800"),
    ("mongodb://user:pw@dbhost:27018/?authSource=admin", "tcp://sched:8800", "dbhost:27018", "sched:8800"),
    ("10.0.0.5:27019", "tcp://10.0.0.6", "10.0.0.5:27019", "10.0.0.6:8786"),
    ("[::1]:27018", "[::1]:8800", "[::1]:27018", "[::1]:8800"),
])
def test_mspasspy_client_composes_exactly_one_port(tmp_path, db_given, sched_given, db_expected, sched_expected):
    s = make(tmp_path, role="frontend", found=(), MSPASS_DB_ADDRESS=db_given,
             MSPASS_SCHEDULER_ADDRESS=sched_given)
    db, sched = emulate_mspasspy_client(s.client_env())
    assert db == db_expected
    assert sched == sched_expected
    assert ONE_PORT.fullmatch(db) and ONE_PORT.fullmatch(sched)


# ---------------------------------------------------------------------- worker args and memory


def test_worker_arg_split_like_a_shell(tmp_path):
    s = make(tmp_path, MSPASS_WORKER_ARG="--nthreads 2 --resources 'GPU=1 MEM=2' --name \"my node\"")
    assert s.worker_args.argv == ("--nthreads", "2", "--resources", "GPU=1 MEM=2", "--name", "my node")
    assert s.worker_args.value("--name") == "my node"
    assert s.worker_args.has("--resources") and not s.worker_args.has("--nworkers")


def test_worker_arg_never_evaluated(tmp_path):
    # role scheduler starts no dask worker: the words are only split (role all checks them, below)
    s = make(tmp_path, role="scheduler", MSPASS_WORKER_ARG="--name $HOME --resources '$(touch pwned)' `id`")
    assert s.worker_args.argv == ("--name", "$HOME", "--resources", "$(touch pwned)", "`id`")


def test_worker_arg_unbalanced_quote(tmp_path):
    problems = problems_of(tmp_path, MSPASS_WORKER_ARG='--name "oops')
    the_problem(problems, "MSPASS_WORKER_ARG='--name \"oops'", "cannot be split like a shell would")


def test_worker_arg_bad_nworkers(tmp_path):
    problems = problems_of(tmp_path, MSPASS_WORKER_ARG="--nworkers lots")
    line = the_problem(problems, "MSPASS_WORKER_ARG='--nworkers lots': --nworkers must be a positive integer")
    assert "'auto', or -N for CPUs + 1 - N processes" in line and line.endswith("got 'lots'")


@pytest.mark.parametrize("raw,said", [
    ("--bogus 1", "No such option '--bogus'"),
    ("--nthreads 2 ; id", "Got unexpected extra arguments: (; id)"),
    ("$(id)", "Got unexpected extra argument: ($(id))"),
    ("--name $HOME `id`", "Got unexpected extra argument: (`id`)"),
    ("--nthreads two", "Invalid value for '--nthreads': 'two' is not a valid integer"),
    ("--nthreads", "Option '--nthreads' requires an argument"),
    ("--tls-ca-file /no/such/ca.pem", "Path '/no/such/ca.pem' does not exist"),
])
def test_worker_arg_read_by_dask_worker_command_line(tmp_path, raw, said):
    """Option names and types exactly as `dask worker` reads them, before anything starts."""
    problems = problems_of(tmp_path, MSPASS_WORKER_ARG=raw)
    line = the_problem(problems, "MSPASS_WORKER_ARG=")
    assert line.startswith(f"MSPASS_WORKER_ARG={raw!r}: dask worker says: ")
    assert said in line


@pytest.mark.parametrize("raw,message", [
    ("--nthreads -5", "--nthreads must be a positive integer (got -5)"),
    ("--nthreads=0", "--nthreads must be a positive integer (got 0)"),
    ("--nworkers 0", "--nworkers must be a positive integer, 'auto', or -N for CPUs + 1 - N processes"),
    ("--nworkers -1000000", "--nworkers must be a positive integer, 'auto', or -N for CPUs + 1 - N processes"),
    ("--no-nanny --nworkers 2", "--no-nanny cannot run more than one worker process (--nworkers)"),
    ("--contact-address tcp://10.0.0.1:9000", "--contact-address needs --listen-address"),
    ("--listen-address tcp://0.0.0.0:9000 --nworkers 2", "--listen-address cannot be used with more than one"),
    ("--listen-address tcp://0.0.0.0:9000 --worker-port 9001", "--listen-address cannot be used with --worker-port"),
    ("--resources 'GPU=1 MEM'", "--resources entry 'MEM' is not NAME=NUMBER"),
    ("--resources GPU=lots", "--resources entry 'GPU=lots' is not NAME=NUMBER"),
    ("--death-timeout soon", "--death-timeout 'soon' is not a duration"),
    ("--lifetime 1fortnight", "--lifetime '1fortnight' is not a duration"),
    ("--worker-port 3000:", "--worker-port '3000:' is not a port"),
    ("--nanny-port 70000", "--nanny-port '70000' is not a port"),
    ("--help", "--help and --version make dask worker print and exit instead of running a worker"),
    ("--version", "--help and --version make dask worker print and exit instead of running a worker"),
])
def test_worker_arg_values_dask_checks_only_when_the_worker_starts(tmp_path, raw, message):
    problems = problems_of(tmp_path, MSPASS_WORKER_ARG=raw)
    the_problem(problems, f"MSPASS_WORKER_ARG={raw!r}: {message}")


def test_worker_arg_checked_for_role_worker(tmp_path):
    problems = problems_of(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_WORKER_ARG="--bogus")
    the_problem(problems, "MSPASS_WORKER_ARG='--bogus': dask worker says: No such option '--bogus'")


@pytest.mark.parametrize("raw", [
    "--nthreads 2 --nworkers 2",
    "--nworkers auto",
    "--nworkers -1",  # dask: one process per CPU
    "--resources 'GPU=1 MEM=2e9' --death-timeout 60s --lifetime 1h --lifetime-stagger 5m",
    "--worker-port 3000:3010 --nanny-port 4000:4010 --nworkers 2",
    "--listen-address tcp://0.0.0.0:9000 --contact-address tcp://10.0.0.1:9000",
    "--memory-limit 2GB --name w --no-dashboard",
    "--preload no_such_module_here --its-own-option 1",  # dask would import it: we must not
])
def test_worker_arg_valid_for_dask(tmp_path, raw):
    import shlex

    s = make(tmp_path, MSPASS_WORKER_ARG=raw)
    assert s.worker_args.argv == tuple(shlex.split(raw))


@pytest.mark.parametrize("role,env", [
    ("scheduler", {}),
    ("frontend", FRONTEND),
    ("db", {}),
    ("worker", {"MSPASS_SCHEDULER": "spark", "MSPASS_SCHEDULER_ADDRESS": "master"}),
    ("all", {"MSPASS_WORKER_ARG": ""}),
])
def test_worker_arg_checked_only_where_a_dask_worker_starts(tmp_path, monkeypatch, role, env):
    """Other roles (and an empty MSPASS_WORKER_ARG) never import distributed for it: health
    checks parse the settings every few seconds."""
    from mspass_roles import dask_worker_args

    def not_here(*args):
        raise AssertionError("MSPASS_WORKER_ARG checked by dask's command line")

    monkeypatch.setattr(dask_worker_args, "problems", not_here)
    s = make(tmp_path, role=role, **{"MSPASS_WORKER_ARG": "--bogus 1", **env})
    assert s.worker_args.argv == (("--bogus", "1") if env.get("MSPASS_WORKER_ARG") is None else ())


@pytest.mark.parametrize("arg", ["--memory-limit 2GB", "--memory-limit=2GB"])
def test_memory_limit_in_worker_arg_wins(tmp_path, arg):
    s = make(tmp_path, MSPASS_WORKER_ARG=f"--nthreads 1 {arg}", MSPASS_DASK_WORKER_MEMORY_LIMIT="8GB")
    assert s.memory_limit == "2GB"


def test_memory_limit_from_env(tmp_path):
    assert make(tmp_path, MSPASS_DASK_WORKER_MEMORY_LIMIT="4GiB").memory_limit == "4GiB"


@pytest.mark.parametrize("value", ["0", "auto", "4GB", "4GiB", "512MB", "0.5", "1000000000", "4 GB", "256MiB"])
def test_memory_limit_valid_forms(tmp_path, value):
    assert make(tmp_path, MSPASS_DASK_WORKER_MEMORY_LIMIT=value).memory_limit == value


@pytest.mark.parametrize("value", ["lots", "4XB", "-1", "GB"])
def test_memory_limit_garbage(tmp_path, value):
    problems = problems_of(tmp_path, MSPASS_DASK_WORKER_MEMORY_LIMIT=value)
    assert "valid: 0 (no limit), auto" in the_problem(problems, f"MSPASS_DASK_WORKER_MEMORY_LIMIT={value!r}")


def test_memory_limit_garbage_in_worker_arg(tmp_path):
    problems = problems_of(tmp_path, MSPASS_WORKER_ARG="--memory-limit=plenty")
    the_problem(problems, "--memory-limit in MSPASS_WORKER_ARG='plenty' is not a memory size")


@pytest.mark.parametrize("value", ["512", "2", "100MB", "1000000"])
def test_memory_limit_too_small_for_a_worker(tmp_path, value):
    """dask reads a plain number as bytes; 512 made the nanny restart the worker endlessly."""
    problems = problems_of(tmp_path, MSPASS_DASK_WORKER_MEMORY_LIMIT=value)
    the_problem(problems, f"MSPASS_DASK_WORKER_MEMORY_LIMIT={value!r}", "too little", "at least 256MiB")


# ---------------------------------------------------------------------- directories


@pytest.mark.parametrize("in_container", [False, True])
def test_work_dir_honoured_when_set(tmp_path, in_container):
    work = tmp_path / "elsewhere"
    s = make(tmp_path, in_container=in_container, MSPASS_WORK_DIR=work)
    assert s.work_dir == work
    assert (s.db_dir, s.log_dir, s.worker_dir) == (work / "db", work / "logs", work / "work")


def test_work_dir_default_in_container_is_home(tmp_path, monkeypatch):
    # /home may not be writable for a non-root test runner: this test is about the default only
    monkeypatch.setattr(settings_mod.os, "access", lambda path, mode: True)
    s = make(tmp_path, role="scheduler", in_container=True, MSPASS_WORK_DIR=None,
             MSPASS_LOG_DIR=tmp_path / "logs")
    assert s.work_dir == Path("/home")
    assert s.db_dir == Path("/home/db")
    assert s.worker_dir == Path("/home/work")


def test_work_dir_default_outside_container_is_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = make(tmp_path, in_container=False, MSPASS_WORK_DIR=None)
    assert s.work_dir == tmp_path
    assert (s.db_dir, s.log_dir, s.worker_dir) == (tmp_path / "db", tmp_path / "logs", tmp_path / "work")


def test_explicit_dirs_override_work_dir(tmp_path):
    s = make(tmp_path, MSPASS_DB_DIR=tmp_path / "d", MSPASS_LOG_DIR=tmp_path / "l",
             MSPASS_WORKER_DIR=tmp_path / "w")
    assert (s.db_dir, s.log_dir, s.worker_dir) == (tmp_path / "d", tmp_path / "l", tmp_path / "w")


def test_work_dir_must_be_absolute(tmp_path):
    problems = problems_of(tmp_path, MSPASS_WORK_DIR="relative/dir")
    the_problem(problems, "MSPASS_WORK_DIR='relative/dir' must be an absolute path")


def test_work_dir_under_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    problems = problems_of(tmp_path, MSPASS_WORK_DIR=tmp_path / "afile" / "sub")
    the_problem(problems, f"MSPASS_WORK_DIR='{tmp_path / 'afile' / 'sub'}'", "is not a directory")


def test_unwritable_work_dir(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:  # access(2) lets root write anywhere: answer as it would for a user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked and mode & os.W_OK
                            else real_access(p, mode))
    try:
        problems = problems_of(tmp_path, MSPASS_WORK_DIR=locked, MSPASS_LOG_DIR=tmp_path / "logs",
                               MSPASS_DB_DIR=tmp_path / "db", MSPASS_WORKER_DIR=tmp_path / "w")
    finally:
        locked.chmod(0o700)
    the_problem(problems, f"MSPASS_WORK_DIR='{locked}'", "is not writable")


def test_db_dir_checked_only_for_db_roles(tmp_path):
    (tmp_path / "afile").write_text("x")
    bad = tmp_path / "afile" / "db"
    make(tmp_path, role="scheduler", MSPASS_DB_DIR=bad)  # not used: no problem
    the_problem(problems_of(tmp_path, role="db", MSPASS_DB_DIR=bad), "MSPASS_DB_DIR=")


@pytest.mark.parametrize("value", ["scratch", "tmp"])
def test_db_path(tmp_path, value):
    assert make(tmp_path, MSPASS_DB_PATH=value).db_path == value


def test_db_ready_file(tmp_path):
    s = make(tmp_path, role="db", MSPASS_DB_READY_FILE=tmp_path / "ready")
    assert s.db_ready_file == tmp_path / "ready"


# ---------------------------------------------------------------------- database engine


@pytest.mark.parametrize("found,engine", [
    (("mongod", "ferretdb"), "mongodb"),
    (("ferretdb",), "ferretdb"),
    (("mongod",), "mongodb"),
])
def test_engine_auto(tmp_path, found, engine):
    assert make(tmp_path, role="db", found=found).db_engine == engine


def test_engine_auto_finds_nothing(tmp_path):
    problems = problems_of(tmp_path, role="db", found=())
    line = the_problem(problems, "MSPASS_DB_ENGINE=auto found no database server")
    assert "mongod" in line and "ferretdb" in line


@pytest.mark.parametrize("engine,binary", [("mongodb", "mongod"), ("ferretdb", "ferretdb")])
def test_engine_explicit_not_installed(tmp_path, engine, binary):
    problems = problems_of(tmp_path, role="db", found=("other",), MSPASS_DB_ENGINE=engine)
    the_problem(problems, f"MSPASS_DB_ENGINE={engine!r} needs {binary!r}")


def test_engine_explicit_ferretdb_with_both(tmp_path):
    assert make(tmp_path, role="db", MSPASS_DB_ENGINE="ferretdb").db_engine == "ferretdb"


@pytest.mark.parametrize("role,extra", [
    ("dbmanager", {"MSPASS_SHARD_LIST": "rs0/h0:27017"}),
    ("shard", {"MSPASS_SHARD_ID": "s0"}),
])
@pytest.mark.parametrize("engine_env,found", [("ferretdb", ("mongod", "ferretdb")), ("auto", ("ferretdb",))])
def test_sharded_roles_need_mongodb(tmp_path, role, extra, engine_env, found):
    problems = problems_of(tmp_path, role=role, found=found, MSPASS_DB_ENGINE=engine_env, **extra)
    line = the_problem(problems, f"MSPASS_ROLE={role!r}", "MSPASS_DB_ENGINE")
    assert "'ferretdb'" in line and "valid: mongodb" in line
    assert "make build MSPASS_DB_ENGINE=mongodb" in line and "role 'db'" in line  # what to do


@pytest.mark.parametrize("role,extra", [("scheduler", {}), ("worker", {"MSPASS_SCHEDULER_ADDRESS": "s"}),
                                        ("frontend", FRONTEND)])
def test_non_db_roles_need_no_engine(tmp_path, role, extra):
    assert make(tmp_path, role=role, found=(), **extra).db_engine == ""


# ---------------------------------------------------------------------- role requirements


def test_worker_needs_scheduler_address(tmp_path):
    problems = problems_of(tmp_path, role="worker")
    assert problems == ["MSPASS_SCHEDULER_ADDRESS is required for role 'worker' (MSPASS_SCHEDULER=dask); "
                        "valid: the scheduler's HOST or HOST:PORT"]


def test_frontend_needs_both_addresses(tmp_path):
    problems = problems_of(tmp_path, role="frontend")
    the_problem(problems, "MSPASS_DB_ADDRESS is required for role 'frontend'")
    the_problem(problems, "MSPASS_SCHEDULER_ADDRESS is required for role 'frontend'")
    assert len(problems) == 2


def test_frontend_with_scheduler_none_needs_no_scheduler(tmp_path):
    s = make(tmp_path, role="frontend", MSPASS_SCHEDULER="none", MSPASS_DB_ADDRESS="dbhost")
    assert s.scheduler == "none" and s.scheduler_address is None


@pytest.mark.parametrize("role,extra", [
    ("all", {}),
    ("scheduler", {}),
    ("worker", {"MSPASS_SCHEDULER_ADDRESS": "sched"}),
])
def test_scheduler_none_only_for_frontend(tmp_path, role, extra):
    problems = problems_of(tmp_path, role=role, MSPASS_SCHEDULER="none", **extra)
    line = the_problem(problems, "MSPASS_SCHEDULER='none' is only valid for role 'frontend'")
    assert f"MSPASS_ROLE={role!r}" in line


def test_dbmanager_needs_shard_list(tmp_path):
    problems = problems_of(tmp_path, role="dbmanager", found=("mongod",))
    the_problem(problems, "MSPASS_SHARD_LIST is required for role 'dbmanager'")


def test_dbmanager_bad_shard_entry(tmp_path):
    problems = problems_of(tmp_path, role="dbmanager", found=("mongod",), MSPASS_SHARD_LIST="rs0/h0:27017 h1")
    the_problem(problems, "MSPASS_SHARD_LIST entry 'h1' is not ID/HOST:PORT")


def test_dbmanager_shard_ids_are_unique(tmp_path):
    problems = problems_of(tmp_path, role="dbmanager", found=("mongod",), MSPASS_SHARD_LIST="rs0/h0:27017 rs0/h1:27017")
    the_problem(problems, "MSPASS_SHARD_LIST names shard 'rs0' twice")


@pytest.mark.parametrize("collections, database, expected", [
    ("wf_TimeSeries", "mspass", "MSPASS_SHARD_COLLECTIONS entry 'wf_TimeSeries' is not COLLECTION:KEY"),
    ("a:b:c", "mspass", "MSPASS_SHARD_COLLECTIONS entry 'a:b:c' is not COLLECTION:KEY"),
    ("wf_TimeSeries:_id", "", "MSPASS_SHARD_COLLECTIONS needs MSPASS_SHARD_DATABASE"),
])
def test_dbmanager_shard_collections(tmp_path, collections, database, expected):
    problems = problems_of(tmp_path, role="dbmanager", found=("mongod",), MSPASS_SHARD_LIST="rs0/h0:27017",
                           MSPASS_SHARD_COLLECTIONS=collections, MSPASS_SHARD_DATABASE=database)
    the_problem(problems, expected)


def test_shard_config_server_address(tmp_path):
    s = make(tmp_path, role="shard", found=("mongod",), MSPASS_SHARD_ID="s0",
             MSPASS_CONFIG_SERVER_ADDR="configserver/node1:27018")
    assert s.config_server_addr == "configserver/node1:27018"
    problems = problems_of(tmp_path, role="shard", found=("mongod",), MSPASS_SHARD_ID="s0",
                           MSPASS_CONFIG_SERVER_ADDR="node1:27018")
    the_problem(problems, "MSPASS_CONFIG_SERVER_ADDR='node1:27018' is not REPLSET/HOST:PORT")


@pytest.mark.parametrize("role,extra", [("dbmanager", {"MSPASS_SHARD_LIST": "rs0/h0:27017"}),
                                        ("shard", {"MSPASS_SHARD_ID": "s0"})])
def test_sharded_roles_refuse_a_login_for_now(tmp_path, role, extra):
    problems = problems_of(tmp_path, role=role, found=("mongod",), MONGO_INITDB_ROOT_USERNAME="u",
                           MONGO_INITDB_ROOT_PASSWORD="p", **extra)
    the_problem(problems, f"MONGO_INITDB_ROOT_USERNAME is not supported with role {role!r}", "key file")


def test_shard_needs_shard_id(tmp_path):
    problems = problems_of(tmp_path, role="shard", found=("mongod",))
    the_problem(problems, "MSPASS_SHARD_ID='' is required for role 'shard'")


# ---------------------------------------------------------------------- timeouts and token


def test_timeouts_parsed(tmp_path):
    s = make(tmp_path, MSPASS_SLEEP_TIME="0.5", MSPASS_WAIT_TIMEOUT="12.5", MSPASS_READY_TIMEOUT="30",
             MSPASS_STOP_TIMEOUT="5")
    assert (s.sleep_time, s.wait_timeout, s.ready_timeout, s.stop_timeout) == (0.5, 12.5, 30, 5)


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "nan", "inf", "1e9", "0.5"])
def test_timeout_out_of_bounds(tmp_path, raw):
    problems = problems_of(tmp_path, MSPASS_READY_TIMEOUT=raw)
    assert problems == [f"MSPASS_READY_TIMEOUT={raw!r} is not a duration here; valid: from 1 to 86400 seconds"]


@pytest.mark.parametrize("raw", ["inf", "nan", "0.01", "7200", "-1"])
def test_check_interval_cannot_blind_or_flood_health(tmp_path, raw):
    """MSPASS_CHECK_INTERVAL=inf was accepted: a frozen db went unreported and `health
    --quick` kept its last answer "ok" for ever (issue 23)."""
    problems = problems_of(tmp_path, MSPASS_CHECK_INTERVAL=raw)
    assert problems == [f"MSPASS_CHECK_INTERVAL={raw!r} is not a duration here; valid: from 1 to 3600 seconds, "
                        "or 0 (never)"]


@pytest.mark.parametrize("name, raw", [("MSPASS_CHECK_INTERVAL", "0"), ("MSPASS_CHECK_INTERVAL", "3600"),
                                       ("MSPASS_DB_SYNC_INTERVAL", "0"), ("MSPASS_DB_SYNC_INTERVAL", "1"),
                                       ("MSPASS_SLEEP_TIME", "0.1"), ("MSPASS_WAIT_TIMEOUT", "604800"),
                                       ("MSPASS_STOP_TIMEOUT", "3600")])
def test_durations_at_their_bounds_are_valid(tmp_path, name, raw):
    assert BY_NAME[name].display(getattr(make(tmp_path, **{name: raw}), BY_NAME[name].field)) == raw


@pytest.mark.parametrize("token", ["a b", "tok&en", "x/y", "ü"])
def test_token_bad_characters(tmp_path, token):
    problems = problems_of(tmp_path, MSPASS_JUPYTER_TOKEN=token)
    assert problems == ["MSPASS_JUPYTER_TOKEN must use only letters, digits and . _ ~ - (it goes into URLs)"]


def test_token_and_password_kept(tmp_path):
    s = make(tmp_path, MSPASS_JUPYTER_TOKEN="Abc-1.2_3~", MSPASS_JUPYTER_PWD="pass word")
    assert s.jupyter_token == "Abc-1.2_3~"
    assert s.jupyter_password == "pass word"


# ---------------------------------------------------------------------- resolved() and secrets


def test_resolved_keys_are_the_contract(tmp_path):
    assert tuple(make(tmp_path).resolved()) == VARIABLE_NAMES


def test_resolved_values(tmp_path):
    r = make(tmp_path, MSPASS_WORKER_ARG="--resources 'GPU=1 MEM=2'").resolved()
    assert r["MSPASS_ROLE"] == "all"
    assert r["MSPASS_DB_ADDRESS"] == "127.0.0.1:27017"
    assert r["MSPASS_SCHEDULER_ADDRESS"] == "127.0.0.1:8786"
    assert r["MSPASS_DB_ENGINE"] == "mongodb"
    assert r["MSPASS_WORK_DIR"] == str(tmp_path / "work")
    assert r["MSPASS_WORKER_ARG"] == "--resources 'GPU=1 MEM=2'"
    assert r["MSPASS_JUPYTER_TOKEN"] == "<random>"
    assert r["MSPASS_JUPYTER_PWD"] == ""
    assert r["MSPASS_SLEEP_TIME"] == "2"
    assert r["MSPASS_HOME"] == ""


def test_secrets_redacted(tmp_path):
    s = make(tmp_path, MSPASS_JUPYTER_TOKEN="sekrit123", MSPASS_JUPYTER_PWD="hunter2pw")
    r = s.resolved()
    assert r["MSPASS_JUPYTER_TOKEN"] == "<redacted>"
    assert r["MSPASS_JUPYTER_PWD"] == "<redacted>"
    text = "\n".join(f"{k}={v}" for k, v in r.items()) + repr(s)
    assert "sekrit123" not in text
    assert "hunter2pw" not in text


def test_db_uri_password_not_in_resolved(tmp_path):
    s = make(tmp_path, role="frontend", **{**FRONTEND, "MSPASS_DB_ADDRESS": "mongodb://u:dbpass77@dbhost:27017/"})
    assert "dbpass77" not in "\n".join(s.resolved().values())


def test_db_uri_password_not_in_repr(tmp_path):
    s = make(tmp_path, role="frontend", **{**FRONTEND, "MSPASS_DB_ADDRESS": "mongodb://u:dbpass77@dbhost:27017/"})
    assert "dbpass77" not in repr(s)


def test_spark_worker_size_is_checked_only_where_a_spark_worker_runs(tmp_path):
    assert make(tmp_path, role="db", SPARK_WORKER_MEMORY="lots").spark_worker_memory == ""
    assert make(tmp_path, role="worker", MSPASS_SCHEDULER="spark", MSPASS_SCHEDULER_ADDRESS="m",
                SPARK_WORKER_MEMORY="4gb").spark_worker_memory == "4gb"  # a size Spark accepts
    the_problem(problems_of(tmp_path, role="worker", MSPASS_SCHEDULER="spark", MSPASS_SCHEDULER_ADDRESS="m",
                            SPARK_WORKER_MEMORY="lots"), "SPARK_WORKER_MEMORY='lots'")


def test_a_work_dir_under_a_parent_this_uid_cannot_enter(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_exists = Path.exists

    def exists(self):  # as os.stat does for a non-root uid under a mode 700 parent
        if str(self).startswith(str(locked)):
            raise PermissionError(13, "Permission denied", str(self))
        return real_exists(self)

    monkeypatch.setattr(Path, "exists", exists)
    problems = problems_of(tmp_path, role="db", MSPASS_WORK_DIR=locked / "work")
    the_problem(problems, f"MSPASS_WORK_DIR={str(locked / 'work')!r}", "cannot be checked", "Permission denied")


def test_no_writable_temporary_directory_is_a_settings_error(tmp_path, monkeypatch):
    import tempfile

    def no_tmp():
        raise FileNotFoundError(2, "No usable temporary directory found")

    monkeypatch.setattr(tempfile, "gettempdir", no_tmp)
    problems = problems_of(tmp_path, role="db", MSPASS_RUN_DIR=None)
    the_problem(problems, "MSPASS_RUN_DIR is unset", "docker run --tmpfs /tmp")


def test_secret_variables_stay_out_of_the_settings_repr(tmp_path):
    s = make(tmp_path, MSPASS_JUPYTER_TOKEN="tok3n42", MSPASS_JUPYTER_PWD="pa55word")
    assert "tok3n42" not in repr(s) and "pa55word" not in repr(s)
    assert s.jupyter_token == "tok3n42"


# ---------------------------------------------------------------------- database logins and *_FILE

LOGIN = {"MONGO_INITDB_ROOT_USERNAME": "mspass", "MONGO_INITDB_ROOT_PASSWORD": "p@ss:w/rd %"}


def test_login_comes_from_the_variables_or_their_files(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("from a file\n")  # `echo ... > file` adds a newline: not part of the password
    s = make(tmp_path, MONGO_INITDB_ROOT_USERNAME="mspass", MONGO_INITDB_ROOT_PASSWORD_FILE=secret)
    assert s.db_credentials == ("mspass", "from a file")
    assert make(tmp_path, **LOGIN).db_credentials == ("mspass", "p@ss:w/rd %")
    assert make(tmp_path).db_credentials is None


def test_a_secret_and_its_file_together_is_a_problem(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("abc")
    problems = problems_of(tmp_path, MSPASS_JUPYTER_TOKEN="abc", MSPASS_JUPYTER_TOKEN_FILE=secret)
    the_problem(problems, "MSPASS_JUPYTER_TOKEN and MSPASS_JUPYTER_TOKEN_FILE are both set; valid: one of them")


def test_an_unreadable_secret_file_is_a_problem_that_names_it(tmp_path):
    problems = problems_of(tmp_path, MONGO_INITDB_ROOT_USERNAME="u", MONGO_INITDB_ROOT_PASSWORD_FILE=tmp_path / "no")
    the_problem(problems, f"MONGO_INITDB_ROOT_PASSWORD_FILE={str(tmp_path / 'no')!r} cannot be read")


def test_only_declared_variables_are_read_from_files(tmp_path):
    (tmp_path / "port").write_text("1234")
    assert make(tmp_path, MONGODB_PORT_FILE=tmp_path / "port").mongodb_port == 27017


@pytest.mark.parametrize("given, missing", [("MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"),
                                            ("MONGO_INITDB_ROOT_PASSWORD", "MONGO_INITDB_ROOT_USERNAME")])
def test_the_login_needs_both_variables(tmp_path, given, missing):
    the_problem(problems_of(tmp_path, **{given: "x"}), f"{given} is set but {missing} is not")


def test_a_login_twice_is_a_problem(tmp_path):
    problems = problems_of(tmp_path, role="frontend", **LOGIN, MSPASS_SCHEDULER_ADDRESS="sched",
                           MSPASS_DB_ADDRESS="mongodb://other:pw@dbhost/")
    the_problem(problems, "MSPASS_DB_ADDRESS names a user and MONGO_INITDB_ROOT_USERNAME is set")


def test_the_password_is_redacted_everywhere_settings_show(tmp_path):
    s = make(tmp_path, **LOGIN)
    assert s.resolved()["MONGO_INITDB_ROOT_PASSWORD"] == "<redacted>"
    assert s.resolved()["MONGO_INITDB_ROOT_USERNAME"] == "mspass"
    assert "p@ss" not in repr(s) + "\n".join(s.resolved().values())


def test_client_env_carries_the_login_in_an_address_mspasspy_completes_with_the_port(tmp_path):
    from pymongo.uri_parser import parse_uri

    env = make(tmp_path, role="frontend", found=(), MSPASS_DB_ADDRESS="dbhost:27018",
               MSPASS_SCHEDULER_ADDRESS="sched", **LOGIN).client_env()
    assert env["MSPASS_DB_ADDRESS"] == "mongodb://mspass:p%40ss%3Aw%2Frd%20%25@dbhost"
    db, _ = emulate_mspasspy_client(env)
    for uri in (db, env["MSPASS_DB_URI"]):
        parsed = parse_uri(uri)
        assert (parsed["username"], parsed["password"], parsed["nodelist"]) == ("mspass", "p@ss:w/rd %",
                                                                                [("dbhost", 27018)])
    # and a URI of several servers gets the login too
    env = make(tmp_path, role="frontend", found=(), MSPASS_DB_ADDRESS="mongodb://a:1,b:2/?replicaSet=rs",
               MSPASS_SCHEDULER_ADDRESS="sched", **LOGIN).client_env()
    parsed = parse_uri(env["MSPASS_DB_ADDRESS"])
    assert parsed["username"] == "mspass" and parsed["nodelist"] == [("a", 1), ("b", 2)] and env["MONGODB_PORT"] == ""


# ---------------------------------------------------------------------- dask TLS (dask's own variables)


def test_dask_goes_over_tls_when_its_ca_file_is_given(tmp_path):
    s = make(tmp_path, **tls_env(tmp_path, "scheduler", "worker", "client"))
    assert s.dask_scheme == "tls"
    env = s.client_env()
    # mspasspy's Client appends ":" + DASK_SCHEDULER_PORT to MSPASS_SCHEDULER_ADDRESS
    assert env["MSPASS_SCHEDULER_ADDRESS"] == "tls://127.0.0.1" and env["DASK_SCHEDULER_PORT"] == "8786"
    assert env["DASK_SCHEDULER_ADDRESS"] == "tls://127.0.0.1:8786"
    assert make(tmp_path).dask_scheme == "tcp"


@pytest.mark.parametrize("role, extra, missing", [
    ("all", {}, "SCHEDULER__CERT"),
    ("scheduler", {}, "SCHEDULER__KEY"),
    ("worker", {"MSPASS_SCHEDULER_ADDRESS": "sched"}, "WORKER__CERT"),
    ("frontend", FRONTEND, "CLIENT__KEY"),
])
def test_each_dask_role_needs_its_certificate_and_key(tmp_path, role, extra, missing):
    problems = problems_of(tmp_path, role=role, **extra, **tls_env(tmp_path))
    the_problem(problems, f"DASK_DISTRIBUTED__COMM__TLS__{missing} is required for role {role!r} when "
                          "DASK_DISTRIBUTED__COMM__TLS__CA_FILE is set")


def test_a_dask_certificate_without_the_ca_file_is_a_problem(tmp_path):
    env = tls_env(tmp_path, "client")
    del env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"]
    the_problem(problems_of(tmp_path, **env), "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT is set but "
                                              "DASK_DISTRIBUTED__COMM__TLS__CA_FILE is not")


def test_an_unreadable_dask_certificate_is_a_problem(tmp_path):
    env = {**tls_env(tmp_path, "scheduler"), "DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__KEY": str(tmp_path / "none")}
    the_problem(problems_of(tmp_path, role="scheduler", **env),
                f"DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__KEY={str(tmp_path / 'none')!r} is not a file")


def test_tls_variables_do_not_concern_spark(tmp_path):
    assert make(tmp_path, MSPASS_SCHEDULER="spark", **tls_env(tmp_path)).spark_master_port == 7077


def test_spark_secret_from_its_file_redacted_and_checked(tmp_path):
    (tmp_path / "secret").write_text("abc-123_XYZ\n")
    s = make(tmp_path, MSPASS_SCHEDULER="spark", MSPASS_SPARK_SECRET_FILE=tmp_path / "secret")
    assert s.spark_secret == "abc-123_XYZ" and s.resolved()["MSPASS_SPARK_SECRET"] == "<redacted>"
    assert "abc-123" not in repr(s)
    the_problem(problems_of(tmp_path, MSPASS_SPARK_SECRET="with space"), "MSPASS_SPARK_SECRET must use only")


# ---------------------------------------------------------------------- secret files (*_FILE)


def test_a_fifo_as_secret_file_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    problems = problems_of(tmp_path, MSPASS_JUPYTER_TOKEN_FILE=fifo)  # an open() that blocked would hang here
    assert problems == [f"MSPASS_JUPYTER_TOKEN_FILE={str(fifo)!r} is a FIFO, not a regular file; valid: a file "
                        "holding the secret"]


def test_a_large_secret_file_is_refused_unread(tmp_path):
    big = tmp_path / "password"
    with open(big, "wb") as file:
        file.truncate(2**30)  # sparse: 1 GiB that takes no disk, and no memory unless read
    problems = problems_of(tmp_path, MONGO_INITDB_ROOT_USERNAME="u", MONGO_INITDB_ROOT_PASSWORD_FILE=big)
    assert problems == [f"MONGO_INITDB_ROOT_PASSWORD_FILE={str(big)!r} is 1 GiB; a secret file holds at most 64 KiB"]


def test_dev_zero_as_secret_file_is_refused_unread(tmp_path):
    problems = problems_of(tmp_path, MSPASS_SCHEDULER="spark", MSPASS_SPARK_SECRET_FILE="/dev/zero")
    assert problems == ["MSPASS_SPARK_SECRET_FILE='/dev/zero' is a character device, not a regular file; valid: "
                        "a file holding the secret"]


def test_a_directory_as_secret_file_is_refused(tmp_path):
    the_problem(problems_of(tmp_path, MSPASS_JUPYTER_PWD_FILE=tmp_path),
                f"MSPASS_JUPYTER_PWD_FILE={str(tmp_path)!r} is a directory, not a regular file")


def test_a_secret_file_of_64_kib_is_read_and_one_byte_more_is_refused(tmp_path):
    (tmp_path / "ok").write_text("p" * settings_mod.SECRET_FILE_MAX)
    assert make(tmp_path, MSPASS_JUPYTER_PWD_FILE=tmp_path / "ok").jupyter_password == "p" * 65536
    (tmp_path / "long").write_text("p" * (settings_mod.SECRET_FILE_MAX + 1))
    assert problems_of(tmp_path, MSPASS_JUPYTER_PWD_FILE=tmp_path / "long") == [
        f"MSPASS_JUPYTER_PWD_FILE={str(tmp_path / 'long')!r} is 65,537 bytes; a secret file holds at most 64 KiB"]


def test_a_secret_file_is_read_once_per_process(tmp_path, monkeypatch):
    """The database probe asks for the login on every check: the file is not read again."""
    reads = []
    read = settings_mod.read_secret_file
    monkeypatch.setattr(settings_mod, "read_secret_file", lambda path: reads.append(path) or read(path))
    secret = tmp_path / "password"
    secret.write_text("first\n")
    env = {"MONGO_INITDB_ROOT_USERNAME": "u", "MONGO_INITDB_ROOT_PASSWORD_FILE": str(secret)}
    assert make(tmp_path, **env).db_credentials == ("u", "first")
    secret.write_text("second\n")
    for _ in range(3):
        assert settings_mod.db_credentials(env) == ("u", "first")
    assert reads == [str(secret)]


# ---------------------------------------------------------------------- addresses of this machine


def test_is_local_address():
    assert settings_mod.is_local_address("127.0.0.1") and settings_mod.is_local_address("localhost")
    assert settings_mod.is_local_address("0.0.0.0")
    assert not settings_mod.is_local_address("203.0.113.7")  # TEST-NET-3: nobody's
    assert not settings_mod.is_local_address("no-such-host.invalid")


@pytest.mark.parametrize("name", ["MSPASS_BIND_ADDRESS", "MSPASS_DASHBOARD_ADDRESS"])
def test_a_bind_address_of_another_machine_is_refused(tmp_path, name):
    problems = problems_of(tmp_path, role="scheduler", is_local=settings_mod.is_local_address, **{name: "203.0.113.7"})
    assert problems == [f"{name}='203.0.113.7' is not an address of this machine; valid: an IP address or host name "
                        "of this machine, e.g. 0.0.0.0 (every interface) or 127.0.0.1 (this node only)"]


@pytest.mark.parametrize("value", ["0.0.0.0", "127.0.0.1", "localhost"])
def test_bind_addresses_of_this_machine(tmp_path, value):
    assert make(tmp_path, is_local=settings_mod.is_local_address, MSPASS_BIND_ADDRESS=value).bind_address == value


def test_every_ipv6_interface_is_reached_at_ipv6_loopback(tmp_path):
    """Jupyter bound to :: listens on IPv6 only: probed at 127.0.0.1 it never answered."""
    s = make(tmp_path, MSPASS_BIND_ADDRESS="::")
    assert s.local_host == "::1" and s.db_address == Address("::1", 27017)
    assert settings_mod.local_address("0.0.0.0") == "127.0.0.1"


def test_every_ipv6_interface_without_ipv6_is_refused(tmp_path):
    problems = problems_of(tmp_path, MSPASS_BIND_ADDRESS="::", is_local=lambda address: address != "::1")
    assert problems == ["MSPASS_BIND_ADDRESS='::' needs IPv6, which is off here (no ::1); valid: an IP address or "
                        "host name of this machine, e.g. 0.0.0.0 (every interface) or 127.0.0.1 (this node only)"]


# ---------------------------------------------------------------------- FerretDB's data directory


@pytest.mark.parametrize("name, bad", [("a#b", "'#'"), ("a?b", "'?'"), ("a%41", "'%'"), ("a\nb", "'\\n'"),
                                       ("a*b", "'*'"), ("[a]", "'['")])
def test_a_db_dir_ferretdb_cannot_name_in_its_url_is_refused(tmp_path, name, bad):
    db_dir = tmp_path / name
    problems = problems_of(tmp_path, role="db", found=("ferretdb",), MSPASS_DB_DIR=db_dir)
    assert problems == [f"MSPASS_DB_DIR={str(db_dir)!r} contains {bad}, which FerretDB's SQLite URL (file:PATH/) "
                        "cannot hold; valid: a path without # ? % * [ \\ or control characters"]


def test_a_work_dir_ferretdb_cannot_name_is_refused_as_the_db_dir_under_it(tmp_path):
    work = tmp_path / "x#y?"
    the_problem(problems_of(tmp_path, role="all", found=("ferretdb",), MSPASS_WORK_DIR=work),
                f"MSPASS_DB_DIR={str(work / 'db')!r} (under MSPASS_WORK_DIR) contains '#', '?'")


def test_such_a_db_dir_is_fine_for_mongod_and_for_the_tmp_database(tmp_path):
    assert make(tmp_path, role="db", found=("mongod",), MSPASS_DB_DIR=tmp_path / "a#b").db_engine == "mongodb"
    assert make(tmp_path, role="db", found=("ferretdb",), MSPASS_DB_PATH="tmp", MSPASS_DB_DIR=tmp_path / "a#b")


# ---------------------------------------------------------------------- durations


@pytest.mark.parametrize("raw", ["inf", "-inf", "nan", "infinity"])
@pytest.mark.parametrize("name", [v.name for v in settings_mod.VARIABLES if v.kind in ("seconds", "seconds0")])
def test_no_duration_is_infinite_or_nan(tmp_path, name, raw):
    the_problem(problems_of(tmp_path, **{name: raw}), f"{name}={raw!r} is not a duration here; valid: from ")


# ---------------------------------------------------------------------- files and interfaces a dask worker reads


@pytest.mark.parametrize("arg, message", [
    ("--scheduler-file /no-such-dir/scheduler.json", "--scheduler-file '/no-such-dir/scheduler.json': its directory "
     "'/no-such-dir' does not exist, so the scheduler's file can never appear there"),
    ("--local-directory /etc/hostname/dask", "--local-directory '/etc/hostname/dask' cannot be made: '/etc/hostname' "
     "is not a directory uid"),
    ("--interface no-such-if0", "--interface 'no-such-if0' is not a network interface of this machine; valid: lo"),
    ("--preload /no-such-dir/setup.py", "--preload '/no-such-dir/setup.py' is not a file"),
    ("--preload-nanny /no-such-dir/setup.py", "--preload-nanny '/no-such-dir/setup.py' is not a file"),
])
def test_worker_arg_files_and_interfaces_must_exist_here(tmp_path, arg, message):
    the_problem(problems_of(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_WORKER_ARG=arg),
                f"MSPASS_WORKER_ARG={arg!r}: {message}")


def test_worker_arg_files_the_worker_waits_for_or_makes(tmp_path):
    args = (f"--scheduler-file {tmp_path}/scheduler.json --local-directory {tmp_path}/new/dask "
            "--interface lo --preload mymodule --preload relative.py")
    assert make(tmp_path, role="worker", MSPASS_SCHEDULER_ADDRESS="sched", MSPASS_WORKER_ARG=args).worker_args.argv


# ---------------------------------------------------------------------- dask's TLS files are PEM


def test_dask_tls_files_that_are_not_pem_are_refused(tmp_path):
    env = tls_env(tmp_path, "scheduler")
    Path(env["DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__CERT"]).write_text("not a certificate\n")
    Path(env["DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__KEY"]).write_text(  # a certificate where the key belongs
        Path(env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"]).read_text())
    problems = problems_of(tmp_path, role="scheduler", **env)
    assert problems == [
        f"DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__CERT={str(tmp_path / 'tls' / 'cert.pem')!r} is not a PEM certificate "
        "(no -----BEGIN CERTIFICATE----- line); valid: a PEM file, e.g. as openssl writes it",
        f"DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__KEY={str(tmp_path / 'tls' / 'key.pem')!r} is not a PEM private key "
        "(no -----BEGIN PRIVATE KEY----- line); valid: a PEM file, e.g. as openssl writes it"]


@pytest.mark.parametrize("begin", ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
def test_dask_tls_keys_in_each_pem_form(tmp_path, begin):
    env = tls_env(tmp_path, "scheduler")
    Path(env["DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__KEY"]).write_text(f"-----BEGIN {begin}-----\nAA==\n")
    assert make(tmp_path, role="scheduler", **env).dask_scheme == "tls"
