"""Failures are loud: dead services end their role, waits are bounded, logs are shown."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import NOTEBOOKS
from tests.support.processes import mongo
from tests.support.wait import wait_until

pytestmark = pytest.mark.process


def service_pid(roles, role: str, node: str, service: str) -> int:
    state = json.loads((roles.tmp / "run" / f"{role}-{node}.json").read_text())
    return next(s["pid"] for s in state["services"] if s["name"] == service)


def test_killing_the_worker_process_ends_its_role_with_an_error(roles):
    roles.start("scheduler", "scheduler").wait_ready()
    worker = roles.start("worker", "worker", MSPASS_NODE_NAME="w1", MSPASS_SCHEDULER_ADDRESS="127.0.0.1")
    worker.wait_ready()

    os.kill(service_pid(roles, "worker", "w1", "worker"), signal.SIGKILL)
    code = worker.wait_exit(60)

    assert code != 0
    out = worker.output()
    assert "worker exited unexpectedly with code 137" in out
    assert "last " in out and "worker-w1.log" in out  # its log tail is shown
    assert not (roles.tmp / "run" / "worker-w1.json").exists()


def test_health_answers_when_the_scheduler_is_frozen(roles):
    """A frozen scheduler (SIGSTOP: accepts connections, never answers) made the worker's
    health check block for minutes inside dask; it must fail within its own bound."""
    scheduler = roles.start("scheduler", "scheduler", MSPASS_NODE_NAME="s1", MSPASS_CHECK_INTERVAL="1")
    scheduler.wait_ready()
    worker_env = {"MSPASS_ROLE": "worker", "MSPASS_NODE_NAME": "w1", "MSPASS_SCHEDULER_ADDRESS": "127.0.0.1"}
    roles.start("worker", "worker", **worker_env).wait_ready()
    health = [sys.executable, "-m", "mspass_roles", "health"]
    assert subprocess.run(health, env={**roles.env, **worker_env}, capture_output=True, timeout=60).returncode == 0

    pid = service_pid(roles, "scheduler", "s1", "scheduler")
    os.kill(pid, signal.SIGSTOP)
    try:
        result = subprocess.run(health, env={**roles.env, **worker_env}, capture_output=True, text=True, timeout=60)
        # the scheduler's own supervisor notices too (it did not: a frozen process does not exit)
        scheduler.wait_for(rf"WARNING: scheduler \(pid {pid}\) does not answer: ", 30)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "worker worker: FAILING: " in result.stdout and "no answer within" in result.stdout
    scheduler.wait_for(r"scheduler answers again \(after [\d.]+ s\)", 30)


def test_health_quick_reports_the_supervisors_recorded_answers(roles):
    """`health --quick`, the container health check, reports what the supervisor found at
    its last check (while recent) and asks nothing itself; plain `health` asks again."""
    env = {**roles.env, "MSPASS_ROLE": "scheduler", "MSPASS_NODE_NAME": "s2"}
    scheduler = roles.start("scheduler", "scheduler", MSPASS_NODE_NAME="s2", MSPASS_CHECK_INTERVAL="2")
    scheduler.wait_ready()
    health = [sys.executable, "-m", "mspass_roles", "health"]

    def quick() -> subprocess.CompletedProcess:
        return subprocess.run([*health, "--quick"], env=env, capture_output=True, text=True, timeout=60)

    assert quick().returncode == 0
    pid = service_pid(roles, "scheduler", "s2", "scheduler")
    os.kill(pid, signal.SIGSTOP)
    try:
        # recorded at the supervisor's next check, within 2 s and the probe's timeout
        failing = wait_until(lambda: quick() if quick().returncode == 1 else None, 60, "health --quick failing",
                             interval=0.5)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert "scheduler scheduler: FAILING: " in failing.stdout, failing.stdout
    wait_until(lambda: quick().returncode == 0, 60, "health --quick ok again", interval=0.5)


def test_health_quick_does_not_ask_while_the_recorded_answers_are_recent(roles):
    env = {**roles.env, "MSPASS_ROLE": "scheduler", "MSPASS_NODE_NAME": "s3"}
    roles.start("scheduler", "scheduler", MSPASS_NODE_NAME="s3", MSPASS_CHECK_INTERVAL="600").wait_ready()
    health = [sys.executable, "-m", "mspass_roles", "health"]
    pid = service_pid(roles, "scheduler", "s3", "scheduler")
    os.kill(pid, signal.SIGSTOP)
    try:
        quick = subprocess.run([*health, "--quick"], env=env, capture_output=True, text=True, timeout=60)
        live = subprocess.run(health, env=env, capture_output=True, text=True, timeout=60)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert quick.returncode == 0 and "scheduler scheduler: ok" in quick.stdout  # the answer at ready
    assert live.returncode == 1 and "FAILING" in live.stdout


def test_worker_waits_for_a_late_scheduler(roles):
    worker = roles.start("worker", "worker", MSPASS_NODE_NAME="w1", MSPASS_SCHEDULER_ADDRESS="127.0.0.1")
    worker.wait_for("waiting up to 90 s for dask scheduler tcp://127.0.0.1:")
    roles.start("scheduler", "scheduler").wait_ready()
    worker.wait_ready()
    assert "found dask scheduler tcp://127.0.0.1:" in worker.output()


def test_worker_gives_up_clearly_when_no_scheduler_comes(roles):
    worker = roles.start("worker", "worker", MSPASS_SCHEDULER_ADDRESS="127.0.0.1", MSPASS_WAIT_TIMEOUT="2")
    assert worker.wait_exit(60) == 1
    out = worker.output()
    assert "ERROR: worker cannot start" in out and "MSPASS_WAIT_TIMEOUT" in out
    assert not (roles.work / "logs" / "worker-w1.log").exists()


def test_health_fails_while_the_database_has_no_file_descriptor_left(roles):
    """A server out of file descriptors lives on and its port accepts connections (the
    kernel queues them), but it answers nothing: health must say so, and recover."""
    roles.start("db", "db", MSPASS_NODE_NAME="n1").wait_ready()
    env = {**roles.env, "MSPASS_ROLE": "db", "MSPASS_NODE_NAME": "n1"}
    health = [sys.executable, "-m", "mspass_roles", "health"]
    pid = service_pid(roles, "db", "n1", "db")
    limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    # none at all: the kernel hands out the lowest free number below the limit, so with the
    # limit at the count in use, one descriptor the server closes (an idle SQLite connection
    # of its pool) lets the next client in
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (0, limits[1]))
    try:
        result = subprocess.run(health, env=env, capture_output=True, text=True, timeout=60)
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "db db: FAILING: " in result.stdout  # no answer, or "unable to open database file"
    again = subprocess.run(health, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout


def test_a_database_that_cannot_start_shows_its_log(roles):
    # each engine's own lock or state file, found as a directory: the server refuses to start
    for name in ("state.json", "mongod.lock"):  # FerretDB's, mongod's
        (roles.work / "db" / name).mkdir(parents=True)
    db = roles.start("db", "db", MSPASS_NODE_NAME="n1")
    code = db.wait_exit(60)
    assert code != 0
    out = db.output()
    assert "db exited unexpectedly" in out or "db not ready" in out
    assert "db-n1.log" in out and "| " in out  # the server's own words, not just a time-out


def test_sigterm_while_waiting_stops_promptly(roles):
    frontend = roles.start("frontend", "frontend", MSPASS_DB_ADDRESS="127.0.0.1",
                           MSPASS_SCHEDULER_ADDRESS="127.0.0.1")
    frontend.wait_for("waiting up to")
    frontend.signal(signal.SIGTERM)
    assert frontend.wait_exit(20) == 0
    assert not list(Path(roles.tmp / "run").glob("frontend-*.json"))


def test_a_second_role_with_the_same_node_name_is_refused(roles):
    roles.start("scheduler", "scheduler").wait_ready()
    first = roles.start("worker1", "worker", MSPASS_NODE_NAME="n1", MSPASS_SCHEDULER_ADDRESS="127.0.0.1")
    first.wait_ready()
    second = roles.start("worker2", "worker", MSPASS_NODE_NAME="n1", MSPASS_SCHEDULER_ADDRESS="127.0.0.1")
    assert second.wait_exit(60) == 2
    assert "a worker role already runs on node 'n1'" in second.output()
    assert first.proc.poll() is None


def test_a_role_starts_again_after_a_crash_left_its_state_file_with_a_live_pid(roles):
    """docker kill, OOM or a reboot leave the state file; the new supervisor, a container's
    first process again, often gets the same PID. Here the stale file names a live process
    (this test's own): the role must start, not refuse as if it already ran."""
    run_dir = roles.tmp / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    stale = {"role": "scheduler", "node": "n1", "pid": os.getpid(), "ready": True, "batch": False, "services": []}
    (run_dir / "scheduler-n1.json").write_text(json.dumps(stale))
    (run_dir / "scheduler-n1.json.lock").touch()  # the crashed supervisor's lock: nobody holds it now
    scheduler = roles.start("scheduler", "scheduler", MSPASS_NODE_NAME="n1")
    scheduler.wait_ready()
    assert "already runs" not in scheduler.output()
    assert json.loads((run_dir / "scheduler-n1.json").read_text())["pid"] == scheduler.proc.pid


def test_a_batch_run_stopped_while_waiting_does_not_report_success(roles):
    run = roles.start("frontend", "frontend", "--batch", str(NOTEBOOKS / "roundtrip.ipynb"),
                      MSPASS_DB_ADDRESS="127.0.0.1", MSPASS_SCHEDULER_ADDRESS="127.0.0.1")
    run.wait_for("waiting up to")  # no database: the notebook never ran
    run.signal(signal.SIGTERM)
    assert run.wait_exit(20) == 128 + signal.SIGTERM


def test_sigkill_with_a_tmp_database_keeps_what_the_last_periodic_copy_saved(roles):
    """MSPASS_DB_PATH=tmp copied the database back only on a clean stop: a SIGKILL (walltime,
    OOM, a docker stop grace that ran out) lost every write of the session."""
    tmp_db = {"MSPASS_DB_PATH": "tmp", "MSPASS_DB_SYNC_INTERVAL": "1", "MSPASS_NODE_NAME": "n1"}
    first = roles.start("db-1", "db", **tmp_db)
    first.wait_ready()
    mongo(roles.env)["durability"]["docs"].insert_many([{"_id": i, "payload": "x" * 100} for i in range(300)])
    # a copy that started after the insert was acknowledged
    done = first.output().count("copied the running database")
    first.wait_for(r"copied the running database to .*: \d+ file\(s\) copied", 60, count=done + 2)

    server = service_pid(roles, "db", "n1", "db")
    first.signal(signal.SIGKILL)
    os.kill(server, signal.SIGKILL)  # everything dies at once, as at the end of a walltime
    assert first.wait_exit(30) == -signal.SIGKILL

    second = roles.start("db-2", "db", **tmp_db)
    second.wait_ready()
    assert mongo(roles.env)["durability"]["docs"].count_documents({}) == 300
    second.signal(signal.SIGTERM)
    assert second.wait_exit(60) == 0, second.output()
    assert re.search(r"db: copied the database to .*: \d+ file\(s\) copied", second.output())


def test_a_taken_port_stops_the_role_before_anything_starts(roles):
    """Jupyter finding its port taken failed once the database, the scheduler and the worker
    ran (under Compose they kept running, issue 23): every port the role listens on is
    checked first, and the role exits 2 naming its variable, with nothing started."""
    port = int(roles.env["JUPYTER_PORT"])
    with socket.create_server(("127.0.0.1", port)):  # another program on that port
        role = roles.start("all", "all")
        assert role.wait_exit(60) == 2, role.output()
    out = role.output()
    assert f"JUPYTER_PORT={port} is in use on 127.0.0.1 (another process listens there)" in out, out
    assert "nothing was started" in out and "starting" not in out
    assert not (roles.work / "logs").exists() and not (roles.work / "db").exists()
