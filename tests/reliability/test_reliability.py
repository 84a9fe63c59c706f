"""Reliability tier: what real machines do to a running MsPASS container.

Each test is a case the image once failed (issues 11 and 23): restarts after docker kill
refused, a tmp database lost on stop (also when MSPASS_DB_DIR is a mount point), the newer
database of a killed container thrown away on start, a full disk reported healthy, a start
that failed called ready, a frozen service unnoticed, false alarms during ordinary dask work,
container-only bad settings that crashed with a traceback. Durability is measured with a
writer that counts only acknowledged documents (tests.support.writer).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time

import pytest
from docker.types import Mount

from tests.support.containers import FAST_HEALTH, SECOND
from tests.support.paths import NOTEBOOKS
from tests.support.wait import wait_until
from tests.support.writer import AckedWriter

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
    # it names the tmp database's directory: "File name too long" once killed a start thread
    "a node name of 241 characters": ({"environment": {"MSPASS_ROLE": "db", "MSPASS_DB_PATH": "tmp",
                                                       "MSPASS_NODE_NAME": "n" * 241}}, "MSPASS_NODE_NAME"),
    # health would be blind: a frozen service never reported
    "a check interval of inf": ({"environment": {"MSPASS_CHECK_INTERVAL": "inf"}}, "MSPASS_CHECK_INTERVAL='inf'"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_container_settings_that_crashed_now_exit_2(containers, case):
    kwargs, expected = HOSTILE[case]
    c = containers.run(**json.loads(json.dumps(kwargs)))
    assert containers.wait_exit(c, 60) == 2, containers.logs_of(c)
    out = containers.logs_of(c)
    assert expected in out and "nothing was started" in out and "Traceback" not in out, out


# ------------------------------------------------------------------ MSPASS_DB_PATH=tmp (issue 23)
TMP = {"MSPASS_ROLE": "db", "MSPASS_DB_PATH": "tmp", "MSPASS_DB_SYNC_INTERVAL": "3"}


class ContainerRole:
    """The db role as a container's command: docker stop and docker start."""

    def __init__(self, containers, network: str, **run):
        self.containers = containers
        self.container = containers.run("db", network=network, healthcheck=HEALTH, **run)

    def start(self) -> None:
        self.container.start()

    def stop(self) -> int:
        self.container.stop(timeout=120)  # what mspass-desktop and compose.yaml give the database
        return self.container.wait(timeout=60)["StatusCode"]

    def output(self) -> str:
        return self.containers.logs_of(self.container)

    def wait_health(self, status: str = "healthy") -> None:
        self.containers.wait_health(self.container, status, 120, details=self.output)


class ExecRole(ContainerRole):
    """The db role run by docker exec in a container that outlives it: a tmpfs keeps its files
    only while its container runs, so the role is stopped (SIGTERM) and started inside it."""

    def __init__(self, containers, network: str, **run):
        self.containers = containers
        self.container = containers.run("db", ["sleep", "infinity"], network=network, healthcheck=HEALTH, **run)
        self.start()

    def start(self) -> None:
        self.container.exec_run(["sh", "-c", "exec mspass-role db >>/tmp/role.out 2>&1"], detach=True)

    def running(self) -> bool:
        return self.container.exec_run(["pgrep", "-f", "mspass-role db"]).exit_code == 0

    def stop(self) -> int:
        self.container.exec_run(["pkill", "-TERM", "-f", "mspass-role db"])
        wait_until(lambda: not self.running(), 150, "the db role stopped", details=self.output)
        # the supervisor's last words: the exit code is not kept by a detached exec
        return 0 if "db stopped (exit code 0" in self.output().rsplit("mspass db: starting", 1)[-1] else 1

    def output(self) -> str:
        return self.container.exec_run(["cat", "/tmp/role.out"]).output.decode(errors="replace")


def db_uri(containers, role: ContainerRole, network: str) -> str:
    return f"mongodb://{containers.ip(role.container, network)}:27017/"


def this_run(output: str) -> str:
    """The output of the role's last start (a restarted container's logs keep every run)."""
    return "mspass db: starting" + output.rsplit("mspass db: starting", 1)[-1]


@pytest.mark.parametrize("db_dir", ["named volume", "tmpfs"])
def test_a_tmp_database_on_a_mount_point_loses_nothing_on_a_graceful_stop(containers, db_dir):
    """MSPASS_DB_DIR as a mount point: every copy renamed the directory itself and failed with
    EBUSY; `docker stop -t 120` then lost 22,157 of 22,157 documents (issue 23)."""
    net = containers.network()
    if db_dir == "named volume":
        role = ContainerRole(containers, net, environment=TMP, volumes={containers.volume(): {"bind": "/home/db",
                                                                                              "mode": "rw"}})
    else:
        role = ExecRole(containers, net, environment=TMP, mounts=[Mount("/home/db", None, type="tmpfs")])
    role.wait_health()
    writer = AckedWriter(db_uri(containers, role, net)).start()
    writer.wait_for(1500)
    # a periodic copy done, or tried (and failed: the test goes on, to count what is lost)
    wait_until(lambda: re.search("copied the running database|ERROR", role.output()), 120, "a periodic copy",
               details=role.output)
    writer.wait_for(writer.acked + 1500)  # more, after that copy

    stopped = role.stop()
    writer.stop()
    role.start()
    role.wait_health()
    assert writer.lost(db_uri(containers, role, net)) == 0, f"of {writer.acked} acknowledged:\n{role.output()}"
    assert stopped == 0 and "ERROR" not in role.output(), role.output()


def test_a_killed_container_keeps_its_newer_tmp_database_on_start(containers):
    """docker kill left the live database in the container's /tmp; docker start replaced it
    by the older copy in MSPASS_DB_DIR: 24,351 of 24,351 documents lost (issue 23). With the
    default copy interval (300 s) nothing was copied before the kill."""
    net = containers.network()
    role = ContainerRole(containers, net, environment={"MSPASS_ROLE": "db", "MSPASS_DB_PATH": "tmp"},
                         volumes={containers.volume(): {"bind": "/home", "mode": "rw"}})
    role.wait_health()
    writer = AckedWriter(db_uri(containers, role, net)).start()
    writer.wait_for(3000)
    role.container.kill()
    writer.stop()
    role.container.wait(timeout=60)

    role.start()
    role.wait_health()
    assert writer.lost(db_uri(containers, role, net)) == 0, f"of {writer.acked} acknowledged"
    assert "kept the database a stopped session left in /tmp/" in this_run(role.output())


def test_a_full_db_dir_disk_in_tmp_mode_is_unhealthy_and_loses_nothing_once_room_is_made(containers):
    """The health probe writes to /tmp only: copies failing on a full MSPASS_DB_DIR went
    unseen for 75 s, then the stop lost 52,372 of 62,783 documents (issue 23)."""
    net = containers.network()
    role = ExecRole(containers, net, environment={**TMP, "MSPASS_DB_SYNC_INTERVAL": "2"},
                    mounts=[Mount("/home/db", None, type="tmpfs", tmpfs_size=48 * 2**20)])
    role.wait_health()
    # a bounded amount: a copy stages a changed file beside its old version (room for both)
    writer = AckedWriter(db_uri(containers, role, net), until=3000).start()
    writer.wait_for(1000)
    role.container.exec_run(["sh", "-c", "dd if=/dev/zero of=/home/db/filler bs=1M 2>/dev/null"])
    role.wait_health("unhealthy")
    health = role.container.exec_run(["mspass-role", "health"]).output.decode()
    assert "FAILING: cannot copy the running database to /home/db" in health, health
    assert "ERROR: db: cannot copy the running database to /home/db" in role.output()
    writer.wait_for(3000)  # the database itself still works, in /tmp
    writer.stop()

    assert role.container.exec_run(["rm", "/home/db/filler"]).exit_code == 0
    role.wait_health()
    assert "db: its periodic task succeeds again" in role.output()
    assert role.stop() == 0, role.output()

    role.start()
    role.wait_health()
    assert writer.lost(db_uri(containers, role, net)) == 0, f"of {writer.acked} acknowledged:\n{role.output()}"


def test_a_tmp_database_that_does_not_fit_in_tmp_fails_the_role_and_is_never_healthy(containers):
    """The restore into a too-small /tmp raised ENOSPC in a start thread; the role still said
    "ready: db" and Docker said healthy, with no server running (issue 23)."""
    home = containers.volume()
    first = containers.run("db", ["db"], healthcheck=HEALTH, volumes={home: {"bind": "/home", "mode": "rw"}})
    containers.wait_healthy(first)
    insert(first, 0, 24, size=1_000_000)  # 24 MB of database
    first.stop(timeout=60)

    small = containers.run("db2", ["db"], healthcheck=HEALTH, environment={"MSPASS_DB_PATH": "tmp"},
                           tmpfs={"/tmp": "size=8m"}, volumes={home: {"bind": "/home", "mode": "rw"}})
    assert containers.wait_exit(small, 120) == 1, containers.logs_of(small)
    out = containers.logs_of(small)
    assert "ERROR: db cannot start: cannot copy the database from /home/db to /tmp/mspass-db-db2-27017: " \
           "[Errno 28] No space left on device" in out, out
    assert "ready" not in out.replace("already", ""), out
    small.reload()
    assert all(check["ExitCode"] != 0 for check in small.attrs["State"].get("Health", {}).get("Log") or []), \
        small.attrs["State"]["Health"]


# ------------------------------------------------------------- health under load (issue 23)
class HealthWatch:
    """Polls the containers' Docker health every second while they run: every status seen
    once each was healthy, and the longest failing streak."""

    def __init__(self, group: list):
        self.group = group
        self.seen: dict[str, set] = {c.name: set() for c in group}
        self.failing: dict[str, int] = {c.name: 0 for c in group}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        healthy_once = set()
        while not self._stop.wait(1.0):
            for c in self.group:
                try:
                    c.reload()
                except Exception:  # removed: nothing more to see
                    continue
                state = c.attrs["State"]
                health = state.get("Health", {})
                if health.get("Status") == "healthy":
                    healthy_once.add(c.name)
                if c.name in healthy_once and state["Status"] == "running":
                    self.seen[c.name].add(health.get("Status"))
                    self.failing[c.name] = max(self.failing[c.name], health.get("FailingStreak", 0))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.mark.parametrize("layout", ["all-in-one", "role containers"])
def test_health_stays_healthy_through_minutes_of_dask_bag_work(containers, tmp_path, layout):
    """The worker probe read the dashboard's identity route, which fails while bag tasks with
    tuple keys run, and the scheduler's /health had 3 s under load: "does not answer" warnings
    in 4 of 5 batch runs (issue 23). The image's own health check, as users run it."""
    net = containers.network()
    work = tmp_path / "work"
    shutil.copytree(NOTEBOOKS, work)
    run = {"network": net, "volumes": {str(work): {"bind": "/home", "mode": "rw"}}}
    notebook = ["--batch", "dask_load.ipynb", "-p", "seconds", "150"]
    if layout == "all-in-one":
        main = containers.run("aio", notebook, **run)
        group = [main]
    else:
        group = [containers.run("db", environment={"MSPASS_ROLE": "db"}, **run),
                 containers.run("scheduler", environment={"MSPASS_ROLE": "scheduler"}, **run)]
        group += [containers.run(name, environment={"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "scheduler"},
                                 **run) for name in ("worker1", "worker2")]
        for c in group:
            containers.wait_healthy(c)
        main = containers.run("frontend", notebook + ["-p", "expect_workers", "2"],
                              environment={"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "db",
                                           "MSPASS_SCHEDULER_ADDRESS": "scheduler"}, **run)
        group.append(main)
    watch = HealthWatch(group)
    started = time.monotonic()
    try:
        assert containers.wait_exit(main, 600) == 0, containers.logs_of(main)
    finally:
        watch.stop()
    assert time.monotonic() - started > 150
    for c in group:
        logs = containers.logs_of(c)
        assert "does not answer" not in logs, f"{c.name}:\n{logs}"
        assert watch.seen[c.name] == {"healthy"}, (c.name, watch.seen[c.name], watch.failing[c.name], logs[-3000:])
    print("longest failing streaks of the health check:", watch.failing)
