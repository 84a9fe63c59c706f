"""Reliability tier: what real machines do to a running MsPASS container.

Each test is a case the image once failed (issue 11): restarts after docker kill refused,
a tmp database lost on stop, a full disk reported healthy, a frozen service unnoticed,
container-only bad settings that crashed with a traceback.
"""

from __future__ import annotations

import json

import pytest
from docker.types import Mount

from tests.support.containers import FAST_HEALTH, SECOND

pytestmark = pytest.mark.reliability

CYCLES = 20
#: the image's health check, less often than the image tier's: five containers starting a
#: python process every second each would take both CPUs of a small CI machine, and slow
#: (or stolen) CPUs must not turn a healthy service "unhealthy" by the check's own timeout
HEALTH = {**FAST_HEALTH, "interval": 3 * SECOND, "timeout": 30 * SECOND, "retries": 3}
#: run inside a container: documents in mspass.docs as JSON, or after inserting
COUNT = "import pymongo; print(pymongo.MongoClient('mongodb://127.0.0.1:27017/')['mspass']['docs'].count_documents({}))"


def py(container, code: str, *args: str) -> str:
    result = container.exec_run(["python", "-c", code, *args])
    assert result.exit_code == 0, result.output.decode(errors="replace")
    return result.output.decode().strip()


def insert(container, first: int, count: int, size: int = 100) -> None:
    py(container, "import sys, pymongo; first, n, size = map(int, sys.argv[1:]); "
       "docs = pymongo.MongoClient('mongodb://127.0.0.1:27017/')['mspass']['docs']\n"
       "for start in range(first, first + n, 50):\n"
       "    docs.insert_many([{'_id': i, 'data': b'x' * size} for i in range(start, min(start + 50, first + n))])",
       str(first), str(count), str(size))


def kill_and_start(containers, group: list, cycles: int) -> None:
    """Kill these containers at once and start them again, `cycles` times. A refused start
    exits 2 before its supervisor says "starting", so waiting for that line is enough; every
    tenth cycle waits until all are healthy, so kills land on running roles too."""
    for cycle in range(cycles):
        for c in group:
            c.kill()
        for c in group:
            c.wait(timeout=60)
            c.start()
        for c in group:  # docker logs keep every run's output: count this run's line
            containers.wait_log(c, r"^mspass \w+: starting ", 120, count=cycle + 2)
        if cycle % 10 == 9:
            for c in group:
                containers.wait_healthy(c)


def test_every_role_starts_again_after_each_of_20_kills(containers):
    """docker kill left the state file behind and the new supervisor, often with the same
    PID, refused to start ("already runs", exit 2 at once): 17 of 24 restarts failed.
    Two rounds: all-in-one, db and scheduler killed together; then worker and frontend
    killed together while the db and scheduler they need run."""
    net = containers.network()
    run = {"network": net, "healthcheck": HEALTH}
    allinone = containers.run("allinone", ["all"], healthcheck=HEALTH)
    db = containers.run("db", ["db"], **run)
    scheduler = containers.run("scheduler", ["scheduler"], **run)
    for c in (allinone, db, scheduler):
        containers.wait_healthy(c)
    insert(allinone, 0, 1)
    kill_and_start(containers, [allinone, db, scheduler], CYCLES)
    for c in (db, scheduler):
        containers.wait_healthy(c)
    # started only now: a dask worker ends when its scheduler's connection breaks (dask's
    # design; a restart policy brings the container back), so it would not outlive round one
    worker = containers.run("worker", ["worker"], environment={"MSPASS_SCHEDULER_ADDRESS": "scheduler"}, **run)
    frontend = containers.run("frontend", ["frontend"], environment={"MSPASS_DB_ADDRESS": "db",
                                                                    "MSPASS_SCHEDULER_ADDRESS": "scheduler"}, **run)
    group = [allinone, db, scheduler, worker, frontend]
    for c in (worker, frontend):
        containers.wait_healthy(c)
    kill_and_start(containers, [worker, frontend], CYCLES)
    for c in group:
        containers.wait_healthy(c)
    insert(allinone, 1, 1)
    assert py(allinone, COUNT) == "2"  # the document written before 20 kills is still there
    for c in group:
        assert "already runs" not in containers.logs_of(c), c.name


def test_a_large_tmp_database_survives_docker_stop_and_kill(containers):
    """MSPASS_DB_PATH=tmp copied the whole database back only after the server stopped: with
    docker's 10 s stop grace a large database got SIGKILL mid-copy and the session was lost."""
    home = containers.volume()
    env = {"MSPASS_DB_PATH": "tmp", "MSPASS_DB_SYNC_INTERVAL": "5"}
    c = containers.run("db", ["db"], environment=env, healthcheck=HEALTH,
                       volumes={home: {"bind": "/home", "mode": "rw"}})
    containers.wait_healthy(c)
    insert(c, 0, 200, size=1_000_000)  # 200 MB
    insert(c, 200, 100)
    copies = containers.logs_of(c).count("copied the running database")
    containers.wait_log(c, "copied the running database", 120, count=copies + 2)

    c.stop(timeout=10)  # docker's default grace
    # 0, or 137 when a slow machine's last copy outlasts the grace: the previous complete copy then stands
    assert c.wait(timeout=60)["StatusCode"] in (0, 137), containers.logs_of(c)

    c.start()
    containers.wait_healthy(c)
    assert py(c, COUNT) == "300"
    insert(c, 300, 50)
    copies = containers.logs_of(c).count("copied the running database")
    containers.wait_log(c, "copied the running database", 120, count=copies + 2)
    c.kill()  # no copy on the way out: what the last periodic copy saved must be there
    c.wait(timeout=60)
    c.start()
    containers.wait_healthy(c)
    assert py(c, COUNT) == "350"
    # no half copy left beside it once stopped (while running, a periodic copy in progress
    # legitimately has its db.incoming)
    c.stop(timeout=60)
    look = containers.run(command=["ls", "/home"], volumes={home: {"bind": "/home", "mode": "ro"}})
    assert containers.wait_exit(look, 60) == 0
    listing = containers.logs_of(look).split()
    assert sorted(listing) == ["db", "logs"], listing


def test_a_full_database_disk_is_unhealthy_and_recovers(containers):
    """A full disk kept the database "healthy" while every write failed."""
    c = containers.run("db", ["db"], healthcheck=HEALTH,
                       mounts=[Mount("/home/db", None, type="tmpfs", tmpfs_size=64 * 2**20)])
    containers.wait_healthy(c)
    c.exec_run(["sh", "-c", "dd if=/dev/zero of=/home/db/filler bs=1M 2>/dev/null"])
    health = c.exec_run(["mspass-role", "health"])
    assert health.exit_code == 1, health.output.decode()
    assert "disk is full" in health.output.decode() or "No space left" in health.output.decode()
    containers.wait_health(c, "unhealthy", 120)

    c.exec_run(["rm", "/home/db/filler"])
    containers.wait_health(c, "healthy", 120)


def test_a_frozen_scheduler_is_reported_by_health_and_the_supervisor(containers):
    c = containers.run("allinone", ["all"], environment={"MSPASS_CHECK_INTERVAL": "2"}, healthcheck=HEALTH)
    containers.wait_healthy(c)
    pid = c.exec_run(["pgrep", "-f", "dask scheduler"]).output.decode().split()[0]
    c.exec_run(["kill", "-STOP", pid])
    try:
        # `timeout` exits 124 if health itself hangs, as it did for minutes inside dask
        health = c.exec_run(["timeout", "60", "mspass-role", "health"])
        containers.wait_log(c, rf"WARNING: scheduler \(pid {pid}\) does not answer", 60)
    finally:
        c.exec_run(["kill", "-CONT", pid])
    assert health.exit_code == 1, health.output.decode()
    assert "scheduler: FAILING" in health.output.decode()
    containers.wait_log(c, r"scheduler answers again", 60)
    containers.wait_health(c, "healthy", 120)


HOSTILE = {
    "read-only root, no tmpfs": ({"read_only": True}, "no writable temporary directory"),
    "a work dir this user cannot enter": ({"user": "1000:1000", "environment": {"MSPASS_WORK_DIR": "/root/work"}},
                                          "MSPASS_WORK_DIR='/root/work'"),
    "a ready file under a file": ({"environment": {"MSPASS_ROLE": "db", "MSPASS_DB_READY_FILE": "/etc/hostname/r"}},
                                  "MSPASS_DB_READY_FILE"),
    "worker arguments dask refuses": ({"environment": {"MSPASS_WORKER_ARG": "--nthreads -5"}}, "--nthreads"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_container_settings_that_crashed_now_exit_2(containers, case):
    kwargs, expected = HOSTILE[case]
    c = containers.run(**json.loads(json.dumps(kwargs)))
    assert containers.wait_exit(c, 60) == 2, containers.logs_of(c)
    out = containers.logs_of(c)
    assert expected in out and "nothing was started" in out and "Traceback" not in out, out
