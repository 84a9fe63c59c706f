"""The HPC launcher's pure logic: host lists, layouts, ports, and the commands it runs."""

import dataclasses
import json
import os
import shlex
import subprocess
import sys

import pytest

from mspass_roles import hpc
from mspass_roles.hpc import core
from mspass_roles.hpc.errors import HpcError
from mspass_roles.hpc.slurm import Slurm, expand_hostlist
from mspass_roles.probes import RoleStateProbe
from tests.support.paths import REPO


@pytest.mark.parametrize("text,hosts", [
    ("c1", ["c1"]),
    ("c[1-3]", ["c1", "c2", "c3"]),
    ("c[001-003,010]", ["c001", "c002", "c003", "c010"]),
    ("c[8-10]", ["c8", "c9", "c10"]),
    ("gpu[01-02],c5,login-1", ["gpu01", "gpu02", "c5", "login-1"]),
    ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
    ("c101-[1-2]", ["c101-1", "c101-2"]),
])
def test_expand_hostlist(text, hosts):
    assert expand_hostlist(text) == hosts


@pytest.mark.parametrize("text", ["c[1-x]", "c[a]", "c 1"])
def test_unreadable_hostlists_are_errors(text):
    with pytest.raises(HpcError, match="cannot read host list"):
        expand_hostlist(text)


ENV = {"MSPASS_WORK_DIR": "/shared/w", "MSPASS_CONTAINER": "/sif/m.sif", "MSPASS_RUNSCRIPT": "/x/run.sh",
       "HOME": "/home/u"}


RUNTIME = core.Runtime(Slurm(), "apptainer", "/sif/m.sif")


def job_info(layout, launches, nodes, work_dir, notebook=True, env=None):
    return core.JobInfo(layout, launches, nodes, "42", work_dir, env or ENV, os.environ.get("SLURM_SUBMIT_HOST", ""),
                        notebook)


def roles(launches):
    return [(launch.role, launch.nodes) for launch in launches]


def test_default_layout_puts_services_on_the_first_node_and_workers_elsewhere():
    launches = core.plan(core.Layout(), ["c1", "c2", "c3"], ENV, "42", "nb.ipynb", ["-p", "x", "1"])
    assert roles(launches) == [("db", ["c1"]), ("scheduler", ["c1"]), ("worker", ["c2", "c3"]),
                               ("frontend", ["c1"])]
    frontend = launches[-1]
    assert frontend.foreground and frontend.args == ["--batch", "nb.ipynb", "-p", "x", "1"]
    assert frontend.env["MSPASS_DB_ADDRESS"] == f"c1:{frontend.env['MONGODB_PORT']}"
    assert frontend.env["MSPASS_SCHEDULER_ADDRESS"] == f"c1:{frontend.env['DASK_SCHEDULER_PORT']}"
    assert launches[2].env["MSPASS_SCHEDULER_ADDRESS"] == frontend.env["MSPASS_SCHEDULER_ADDRESS"]
    assert all(launch.env["MSPASS_WORK_DIR"] == "/shared/w" for launch in launches)
    # what only the job script needs stays out of the containers
    assert all("MSPASS_CONTAINER" not in launch.env and "HOME" not in launch.env for launch in launches)


def test_layout_options():
    layout = core.Layout(primary=1, primary_workers=4, workers_per_node=4)
    launches = core.plan(layout, ["c1", "c2", "c3"], ENV, "42", None)
    assert roles(launches) == [("db", ["c2"]), ("scheduler", ["c2"]), ("worker", ["c2"]), ("worker", ["c1", "c3"]),
                               ("frontend", ["c2"])]
    assert [w.env["MSPASS_WORKER_ARG"] for w in launches[2:4]] == ["--nworkers 4", "--nworkers 4"]
    assert [(w.name, w.role_nodes) for w in launches[2:4]] == [("worker-primary", 3), ("worker", 3)]
    assert not launches[-1].foreground and launches[-1].args == []  # interactive Jupyter


def test_a_dedicated_scheduler_and_database_node_with_uneven_workers():
    layout = core.Layout(primary=1, scheduler_node=0, db_node=0, primary_workers=1, workers_per_node=2,
                         threads_per_worker=1)
    launches = core.plan(layout, ["c1", "c2", "c3"], {**ENV, "MSPASS_WORKER_ARG": "--memory-limit 2GB"}, "42",
                         "nb.ipynb")
    assert roles(launches) == [("db", ["c1"]), ("scheduler", ["c1"]), ("worker", ["c2"]), ("worker", ["c3"]),
                               ("frontend", ["c2"])]
    assert [w.env["MSPASS_WORKER_ARG"] for w in launches[2:4]] == ["--memory-limit 2GB --nthreads 1",
                                                                   "--memory-limit 2GB --nworkers 2 --nthreads 1"]
    frontend = launches[-1]
    assert frontend.env["MSPASS_DB_ADDRESS"].startswith("c1:") and frontend.env["MSPASS_SCHEDULER_ADDRESS"].startswith("c1:")
    assert launches[3].env["MSPASS_SCHEDULER_ADDRESS"] == frontend.env["MSPASS_SCHEDULER_ADDRESS"]
    # explicit worker nodes; none left over is an error that says what to do
    explicit = core.plan(core.Layout(worker_nodes=(2,)), ["c1", "c2", "c3"], ENV, "42", None)
    assert roles(explicit)[2] == ("worker", ["c3"])
    with pytest.raises(HpcError, match="no node is left for workers.* Ask for 3 nodes .*--primary-workers N"):
        core.plan(core.Layout(scheduler_node=1), ["c1", "c2"], ENV, "42", None)
    with pytest.raises(HpcError, match="--scheduler-node 3, but the job has 3 node.*valid 0 to 2"):
        core.plan(core.Layout(scheduler_node=3), ["c1", "c2", "c3"], ENV, "42", None)
    with pytest.raises(HpcError, match="worker processes and threads are dask's"):
        core.plan(core.Layout(scheduler="spark", workers_per_node=2), ["c1", "c2"], ENV, "42", None)


def test_all_in_one_and_spark():
    [launch] = core.plan(core.Layout(all_in_one=True), ["c7"], ENV, "42", "nb.ipynb")
    assert (launch.role, launch.nodes, launch.foreground) == ("all", ["c7"], True)
    spark = core.plan(core.Layout(scheduler="spark"), ["c1", "c2"], ENV, "42", "nb.ipynb")
    assert spark[2].env["MSPASS_SCHEDULER_ADDRESS"] == f"c1:{spark[2].env['SPARK_MASTER_PORT']}"
    assert all(launch.env["MSPASS_SCHEDULER"] == "spark" for launch in spark)


def test_layout_errors():
    with pytest.raises(HpcError, match="--primary 5, but the job has 2 node"):
        core.plan(core.Layout(primary=5), ["c1", "c2"], ENV, "1", None)
    with pytest.raises(HpcError, match=r"--workers-per-node -1 \(workers_per_node: -1 in HPCClusterLauncher.yaml\); "
                                       "valid: 0 or more"):
        core.plan(core.Layout(workers_per_node=-1), ["c1", "c2"], ENV, "1", None)
    with pytest.raises(HpcError, match="scheduler='ray'"):
        core.plan(core.Layout(scheduler="ray"), ["c1", "c2"], ENV, "1", None)


def test_a_one_node_job_says_what_the_user_sets_not_the_layouts_field():
    """The options of mspass-hpc and the keys of HPCClusterLauncher.yaml, never a field
    of the code (primary_workers, worker_on_primary)."""
    with pytest.raises(HpcError) as err:
        core.plan(core.Layout(), ["c1"], ENV, "1", None)
    assert str(err.value) == ("no node is left for workers: the frontend, scheduler and database take the job's 1 "
                              "node(s). Ask for 2 nodes (sbatch --nodes=2), or run workers beside them: "
                              "--primary-workers N (primary_node_workers: N in HPCClusterLauncher.yaml)")
    assert roles(core.plan(core.Layout(primary_workers=2), ["c1"], ENV, "1", None))[2] == ("worker", ["c1"])


def test_auto_ports_are_a_block_per_job_and_the_users_win():
    a, b = core.job_ports("1001", "auto", {}), core.job_ports("1002", "auto", {})
    assert set(a.values()).isdisjoint(b.values())  # two jobs sharing a node do not collide
    assert len(set(a.values())) == len(core.DEFAULT_PORTS)
    assert all(20000 <= int(p) < 40000 for p in a.values())
    assert core.job_ports("1001", "auto", {"JUPYTER_PORT": "9999"})["JUPYTER_PORT"] == "9999"
    assert core.job_ports("7", "default", {})["MONGODB_PORT"] == "27017"


def test_the_database_port_is_the_last_of_a_jobs_block_so_the_config_server_port_after_it_is_free():
    ports = {name: int(port) for name, port in core.job_ports("1001", "auto", {}).items()}
    config = ports["MONGODB_PORT"] + 1
    assert config not in ports.values() and config < min(ports.values()) + 10  # still this job's block
    assert config not in {int(p) for p in core.job_ports("1002", "auto", {}).values()}  # not the next job's


def test_sharded_layout_a_shard_per_other_node_with_ids_from_the_allocation_and_the_dbmanager():
    nodes = ["c1", "c2", "c3", "c4"]
    launches = core.plan(core.Layout(sharded=True, primary_workers=1), nodes, ENV, "42", "nb.ipynb")
    assert [(la.name, la.role, la.nodes) for la in launches] == [
        ("shard-rs1", "shard", ["c2"]), ("shard-rs2", "shard", ["c3"]), ("shard-rs3", "shard", ["c4"]),
        ("dbmanager", "dbmanager", ["c1"]), ("scheduler", "scheduler", ["c1"]),
        ("worker-primary", "worker", ["c1"]), ("worker", "worker", ["c2", "c3", "c4"]), ("frontend", "frontend", ["c1"])]
    port = launches[0].env["MONGODB_PORT"]
    assert [(la.env["MSPASS_SHARD_ID"], la.env["MSPASS_NODE_NAME"]) for la in launches[:3]] == \
        [("rs1", "c2"), ("rs2", "c3"), ("rs3", "c4")]
    assert launches[3].env["MSPASS_SHARD_LIST"] == f"rs1/c2:{port} rs2/c3:{port} rs3/c4:{port}"
    # where this job's config server is, for shards of an earlier job's data
    assert {la.env["MSPASS_CONFIG_SERVER_ADDR"] for la in launches[:3]} == {f"configserver/c1:{int(port) + 1}"}
    assert "MSPASS_CONFIG_SERVER_ADDR" not in launches[3].env
    assert launches[-1].env["MSPASS_DB_ADDRESS"] == f"c1:{port}"  # mongos: notebooks need no change
    # no login (not yet with shards); dask's TLS stays
    assert not any(k.startswith("MONGO_INITDB_ROOT_") for la in launches for k in la.env)
    assert "DASK_DISTRIBUTED__COMM__TLS__CA_FILE" in launches[-1].env
    # the same number of nodes elsewhere: the same ids, on the new nodes in their order
    moved = core.plan(core.Layout(sharded=True), ["d9", "d3", "d5", "d7"], ENV, "43", None)
    assert [(la.env["MSPASS_SHARD_ID"], la.nodes) for la in moved[:3]] == [("rs1", ["d3"]), ("rs2", ["d5"]),
                                                                           ("rs3", ["d7"])]


def test_sharded_layout_errors():
    with pytest.raises(HpcError, match="--sharded and --all-in-one"):
        core.plan(core.Layout(sharded=True, all_in_one=True), ["c1", "c2"], ENV, "1", None)
    with pytest.raises(HpcError, match="MONGO_INITDB_ROOT_. with --sharded"):
        core.plan(core.Layout(sharded=True), ["c1", "c2"], {**ENV, "MONGO_INITDB_ROOT_USERNAME": "u"}, "1", None)


def test_each_shard_is_a_step_of_its_own_ready_by_its_own_nodes_state(tmp_path):
    env = {**ENV, "MSPASS_WORK_DIR": str(tmp_path)}
    nodes = ["c1", "c2", "c3"]
    launches = core.plan(core.Layout(sharded=True), nodes, env, "42", "nb.ipynb")
    plan = core.supervised_plan(launches, RUNTIME, tmp_path / "logs", "42",
                               job_info(core.Layout(sharded=True), launches, nodes, tmp_path))
    shard1, shard2, manager, *_, frontend = plan.services
    assert (shard1.name, shard2.name, manager.name) == ("shard-rs1", "shard-rs2", "dbmanager")
    assert shard1.probe.node == "c2" and shard1.probe.role == "shard" and manager.probe.node == ""
    assert set(frontend.after) == {"shard-rs1", "shard-rs2", "dbmanager", "scheduler", "worker"}
    assert shard1.log == tmp_path / "logs" / "hpc-42-shard-rs1.out"
    run_dir = tmp_path / ".mspass-job-42"
    run_dir.mkdir()
    (run_dir / "shard-c3.json").write_text('{"ready": true}')  # the other shard's node
    assert shard1.probe.check() is not None and shard2.probe.check() is None


def test_sharded_dry_run_shows_every_command_and_says_the_database_has_no_login(monkeypatch, capsys):
    monkeypatch.setattr("os.environ", {**ENV, "SLURM_JOB_NODELIST": "c[1-3]", "SLURM_JOB_ID": "42"})
    assert hpc.main(["run", "--sharded", "--dry-run", "nb.ipynb"]) == 0
    out = capsys.readouterr()
    commands = [shlex.split(line.rstrip(" &")) for line in out.out.splitlines() if not line.startswith("#")]
    # node by node: c1's steps, then c2's shard, then c3's
    assert [c[c.index("srun") + 6] for c in commands] == ["--job-name=mspass-dbmanager", "--job-name=mspass-scheduler",
                                                          "--job-name=mspass-frontend", "--job-name=mspass-shard-rs1",
                                                          "--job-name=mspass-worker", "--job-name=mspass-shard-rs2"]
    assert "#     shard-rs1: MSPASS_ROLE=shard " in out.out and " MSPASS_SHARD_ID=rs1" in out.out
    assert " MSPASS_SHARD_ID=rs2" in out.out and "sharded database" in out.out.splitlines()[1]
    assert "the sharded database has no login" in out.err


def test_commands_use_srun_and_the_runtime_env_prefix():
    launch = core.plan(core.Layout(), ["c1", "c2", "c3"], ENV, "42", None)[2]
    argv = RUNTIME.argv(launch)
    assert argv[:6] == ["srun", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--nodelist=c2,c3", "--overlap"]
    assert argv[-4:] == ["apptainer", "run", "--no-eval", "/sif/m.sif"]
    assert RUNTIME.env(launch)["APPTAINERENV_MSPASS_ROLE"] == "worker"
    singularity = core.Runtime(Slurm(), "/usr/bin/singularity", "/sif/m.sif")
    assert singularity.env(launch)["SINGULARITYENV_MSPASS_ROLE"] == "worker"


def test_dry_run_prints_the_plan_node_by_node(monkeypatch, capsys):
    monkeypatch.setattr("os.environ", {**ENV, "SLURM_JOB_NODELIST": "c[1-3]", "SLURM_JOB_ID": "42"})
    assert hpc.main(["run", "--dry-run", "nb.ipynb"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# mspass-hpc run --dry-run: job 42, 3 node(s): c1 c2 c3; nothing is started"
    assert lines[1].startswith("# layout: scheduler dask; frontend on c1 (--primary 0): runs nb.ipynb; ports auto")
    blocks = [line for line in lines if line.startswith("#   c")]
    assert blocks == ["#   c1: db, scheduler, frontend", "#   c2: worker", "#   c3: worker"]
    commands = [shlex.split(line.rstrip(" &")) for line in lines if not line.startswith("#")]
    assert [c[c.index("srun") + 4] for c in commands] == ["--nodelist=c1", "--nodelist=c1", "--nodelist=c1",
                                                          "--nodelist=c2,c3"]
    frontend = next(line for line in lines if "mspass-frontend" in line)
    assert not frontend.endswith(" &") and shlex.split(frontend)[-2:] == ["--batch", "nb.ipynb"]  # the foreground
    assert "#     worker: the step under c2 (one srun on c2,c3)" in lines[lines.index("#   c3: worker"):]


def test_dry_run_outside_a_job_plans_for_the_nodes_given_and_shows_no_secret(monkeypatch, capsys):
    """Outside a job (a login node) --nodelist gives the nodes; the settings every container
    gets are named once, a role's own with their values, never a secret's."""
    given = {"MSPASS_JUPYTER_TOKEN": "tok-1a2b3c", "MSPASS_JUPYTER_PWD": "pwd-4d5e6f",
             "MONGO_INITDB_ROOT_USERNAME": "me", "MONGO_INITDB_ROOT_PASSWORD": "dbpw-7a8b9c"}
    monkeypatch.setattr("os.environ", {**ENV, **given})
    assert hpc.main(["run", "--dry-run", "--nodelist", "c[1-3]", "nb.ipynb"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("# mspass-hpc run --dry-run: outside a job (ports as for job id 0), 3 node(s): c1 c2 c3")
    assert "{" not in out and "Layout(" not in out  # no Python repr
    assert [line for line in lines if line.startswith("#   c")] == ["#   c1: db, scheduler, frontend",
                                                                       "#   c2: worker", "#   c3: worker"]
    # the variables on one line, names only; each command on its own line, without them
    [every] = [line for line in lines if line.startswith("# every container gets, as APPTAINERENV_NAME")]
    assert all(f" {name}" in every for name in given) and "MSPASS_WORK_DIR" in every
    assert not any("APPTAINERENV_" in line for line in lines if not line.startswith("#"))
    assert len(lines) < 25
    for secret in given.values():
        assert secret not in out or secret == "me"
    assert "#     worker: MSPASS_ROLE=worker MSPASS_DB_ADDRESS=c1:" in out


def test_dry_run_hides_every_secret_value_it_would_print():
    assert hpc.cli.shown("MSPASS_JUPYTER_TOKEN", "abc") == "(hidden)"
    assert hpc.cli.shown("MONGO_INITDB_ROOT_PASSWORD", "abc") == "(hidden)"
    assert hpc.cli.shown("MY_SITE_TOKEN", "abc") == "(hidden)"
    assert hpc.cli.shown("MONGO_INITDB_ROOT_PASSWORD_FILE", "/w/db.password") == "/w/db.password"  # a path
    assert hpc.cli.shown("MSPASS_WORKER_ARG", "--nworkers 2") == "'--nworkers 2'"


@pytest.mark.parametrize("argv,env,message", [
    (["--dry-run"], {}, "not inside a Slurm job: give the nodes to plan for, e.g. --dry-run --nodelist 'c[1-3]'"),
    (["--nodelist", "c[1-3]"], {"MSPASS_CONTAINER": "/sif/m.sif"}, "--nodelist is for --dry-run"),
    (["--dry-run", "--nodelist", "c[1-x]"], {}, "cannot read host list"),
])
def test_dry_run_node_list_errors(monkeypatch, capsys, argv, env, message):
    monkeypatch.setattr("os.environ", env)
    assert hpc.main(["run", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("env,message", [
    ({}, "not inside a Slurm job"),
    ({"SLURM_JOB_NODELIST": "c1"}, "MSPASS_CONTAINER is not set"),
])
def test_launcher_errors_exit_2(monkeypatch, capsys, env, message):
    monkeypatch.setattr("os.environ", env)
    assert hpc.main(["run", "--dry-run"]) == 2
    assert message in capsys.readouterr().err


def test_the_supervised_plan_starts_steps_side_by_side_and_the_notebook_last(tmp_path):
    env = {**ENV, "MSPASS_WORK_DIR": str(tmp_path)}
    launches = core.plan(core.Layout(), ["c1", "c2", "c3"], env, "42", "nb.ipynb")
    info = job_info(core.Layout(), launches, ["c1", "c2", "c3"], tmp_path)
    plan = core.supervised_plan(launches, RUNTIME, tmp_path / "logs", "42", info)
    db, scheduler, worker, frontend = plan.services
    run_dir = str(tmp_path / ".mspass-job-42")
    assert all(launch.env["MSPASS_RUN_DIR"] == run_dir for launch in launches)  # shared: the launcher reads it
    assert [s.after for s in (db, scheduler, worker)] == [(), (), ()]
    assert frontend.after == ("db", "scheduler", "worker") and frontend.main and frontend.probe is None
    # each role's readiness is its own supervisors' word, one state file per node
    assert worker.probe == RoleStateProbe(run_dir, "worker", 2, timeout=5.0)
    assert db.probe == RoleStateProbe(run_dir, "db", 1, timeout=5.0)
    assert worker.argv[0] == "srun" and worker.env["APPTAINERENV_MSPASS_ROLE"] == "worker"
    assert worker.log == tmp_path / "logs" / "hpc-42-worker.out" and frontend.log is None  # the job's output
    assert frontend.before_start == info.batch_started and frontend.after_stop == info.stopping
    assert plan.on_ready == info.running  # the job file says "running" once every step answers


def test_an_interactive_job_prints_the_tunnel_with_the_token_from_the_frontends_state(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_SUBMIT_HOST", "login1")
    env = {**ENV, "MSPASS_WORK_DIR": str(tmp_path)}
    launches = core.plan(core.Layout(), ["c1", "c2"], env, "42", None)
    info = job_info(core.Layout(), launches, ["c1", "c2"], tmp_path, notebook=False)
    frontend = core.supervised_plan(launches, RUNTIME, tmp_path, "42", info).services[-1]
    assert frontend.probe == RoleStateProbe(str(info.run_dir), "frontend", 1, timeout=5.0)
    info.run_dir.mkdir()
    (info.run_dir / "frontend-c1.json").write_text(json.dumps({"ready": True, "services": [
        {"name": "jupyter", "urls": {"jupyter": "http://127.0.0.1:8888/lab?token=abc123"}}]}))
    message = frontend.on_ready()
    e = launches[-1].env
    # the dashboard listens on the node's loopback: the tunnel ends on the node, through the login node
    assert (f"ssh -N -J login1 -L 8888:localhost:{e['JUPYTER_PORT']} -L 8787:localhost:{e['DASK_DASHBOARD_PORT']} "
            "c1\n") in message
    assert "http://localhost:8888/lab?token=abc123 " in message

    insecure = core.plan(core.Layout(secure=False), ["c1", "c2"], env, "42", None)
    message = job_info(core.Layout(secure=False), insecure, ["c1", "c2"], tmp_path, notebook=False).jupyter_ready()
    assert f"ssh -N -L 8888:c1:{insecure[-1].env['JUPYTER_PORT']} " in message and " login1\n" in message


def test_a_job_is_secure_by_default_with_paths_only_in_the_containers_environment(tmp_path):
    env = {**ENV, "MSPASS_WORK_DIR": str(tmp_path)}
    launches = core.plan(core.Layout(), ["c1", "c2"], env, "42", None)
    tls = tmp_path / ".mspass-job-42" / "tls"
    for launch in launches:
        assert launch.env["MONGO_INITDB_ROOT_USERNAME"] == "mspass"
        assert launch.env["MONGO_INITDB_ROOT_PASSWORD_FILE"] == str(tmp_path / "db.password")
        assert launch.env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"] == str(tls / "ca.pem")
        assert launch.env["MSPASS_DASHBOARD_ADDRESS"] == "127.0.0.1"
        assert "MONGO_INITDB_ROOT_PASSWORD" not in launch.env
    info = job_info(core.Layout(), launches, ["c1", "c2"], tmp_path)
    info.write("running")
    assert json.loads(info.path.read_text())["scheduler"].startswith("tls://c1:")

    insecure = core.plan(core.Layout(secure=False), ["c1", "c2"], env, "42", None)
    assert not any(k.startswith(("MONGO_INITDB", "DASK_DISTRIBUTED__COMM", "MSPASS_SPARK_SECRET")) or k == "MSPASS_DASHBOARD_ADDRESS"
                   for launch in insecure for k in launch.env)
    spark = core.plan(core.Layout(scheduler="spark"), ["c1", "c2"], env, "42", None)
    assert "MONGO_INITDB_ROOT_USERNAME" in spark[0].env and "DASK_DISTRIBUTED__COMM__TLS__CA_FILE" not in spark[0].env
    assert all(launch.env["MSPASS_SPARK_SECRET_FILE"] == str(tmp_path / ".mspass-job-42" / "spark.secret")
               for launch in spark)
    # a login the user gives is theirs: none of ours beside it
    own = core.plan(core.Layout(), ["c1", "c2"], {**env, "MONGO_INITDB_ROOT_USERNAME": "me",
                                                "MONGO_INITDB_ROOT_PASSWORD_FILE": "/p"}, "42", None)
    assert own[0].env["MONGO_INITDB_ROOT_USERNAME"] == "me" and own[0].env["MONGO_INITDB_ROOT_PASSWORD_FILE"] == "/p"


def test_job_credentials_are_made_before_start_and_a_database_without_a_login_is_refused(tmp_path):
    env = {**ENV, "MSPASS_WORK_DIR": str(tmp_path)}
    made = core.JobCredentials.for_job(core.Layout(), env, tmp_path / ".mspass-job-42")
    made.make()
    assert (tmp_path / "db.password").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (tmp_path / ".mspass-job-42" / "tls").iterdir()) == ["ca.pem", "tls.key", "tls.pem"]

    old = tmp_path / "old"
    (old / "db").mkdir(parents=True)
    (old / "db" / "mspass.sqlite").write_text("")
    with pytest.raises(HpcError, match="was made without a login .* run it with --insecure"):
        core.JobCredentials.for_job(core.Layout(), {**ENV, "MSPASS_WORK_DIR": str(old)}, old / ".run").make()
    assert not (old / "db.password").exists()


def test_hostname_base_never_changes_the_service_addresses():
    env = {**ENV, "HOSTNAME_BASE": "cluster.example.edu"}
    frontend = core.plan(core.Layout(), ["c1", "c2"], env, "42", None)[-1]
    assert frontend.env["MSPASS_DB_ADDRESS"].split(":")[0] == "c1"
    assert frontend.env["MSPASS_SCHEDULER_ADDRESS"].split(":")[0] == "c1"


def test_the_sharded_template_runs_the_launcher_with_sharded(tmp_path):
    script = REPO / "scripts" / "template" / "run_mspass_sharded.sh"
    env = {"PATH": os.environ["PATH"], **ENV, "SLURM_JOB_NODELIST": "c[1-3]", "SLURM_JOB_ID": "42",
           "MSPASS_PYTHON": sys.executable, "MSPASS_HPC_ARGS": "--dry-run"}
    result = subprocess.run([str(script), "nb.ipynb"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "sharded database" in result.stdout.splitlines()[1]
    assert " MSPASS_SHARD_LIST='rs1/c2:" in result.stdout and "--job-name=mspass-dbmanager" in result.stdout
