"""Tier 3: the image. PID 1, passthrough, validation, labels, health states, user model, CA."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import shutil
import socket
import tarfile
from datetime import datetime
from pathlib import Path

import pytest

from mspass_roles.settings import DEFAULT_PORTS
from tests.support.containers import FAST_HEALTH
from tests.support.paths import NOTEBOOKS, REPO
from tests.support.prerequisites import http_status, require
from tests.support.workflow import check, summary

pytestmark = pytest.mark.image



def test_tini_is_pid_1(containers):
    c = containers.run(command=["cat", "/proc/1/cmdline"])
    assert containers.wait_exit(c, 60) == 0
    argv = containers.logs_of(c).split("\0")
    assert Path(argv[0]).name == "tini" and "-s" in argv
    assert argv[argv.index("--") + 1] == "mspass-role"


def test_passthrough_runs_the_program_with_its_exit_code(containers):
    code = ("import dask, distributed, pymongo, pyspark, jupyterlab, papermill, importlib.util; "
            "assert importlib.util.find_spec('docker') is None, 'the host launcher SDK is in the image'; "
            "print('imports ok')")
    c = containers.run(command=["python", "-c", code + "; raise SystemExit(3)"])
    assert containers.wait_exit(c, 60) == 3
    logs = containers.logs_of(c)
    assert "imports ok" in logs and "mspass" not in logs  # no services were started


def test_invalid_settings_exit_2_and_leave_nothing_running(containers):
    c = containers.run(environment={"MSPASS_ROLE": "wroker", "JUPYTER_PORT": "0"})
    assert containers.wait_exit(c, 60) == 2
    logs = containers.logs_of(c)
    assert "did you mean 'worker'" in logs and "JUPYTER_PORT='0' is not a port" in logs
    c.reload()
    assert c.status == "exited"


def test_labels(image):
    labels = image.labels
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    assert labels["org.opencontainers.image.version"] == version
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", labels["org.opencontainers.image.revision"])
    assert labels["io.mspass.db-engine"] in ("mongodb", "ferretdb")
    assert re.fullmatch(r"\d+(\.\d+)+|none", labels["io.mspass.mspasspy-version"])
    datetime.strptime(labels["org.opencontainers.image.created"], "%Y-%m-%dT%H:%M:%SZ")
    assert image.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "mspass-role", "health", "--quick"]
    exposed = set(image.attrs["Config"]["ExposedPorts"])
    assert exposed == {f"{port}/tcp" for port in DEFAULT_PORTS.values()}


def test_mspasspy_is_installed_without_its_compilers(containers, image):
    script = ("mspass-role --version; mspass-role config | grep '^MSPASS_HOME='; "
              "python -c 'import mspasspy.ccore.seismic, mspasspy.client; print(\"import ok\")'; "
              "for tool in cc gcc g++ gfortran cmake make; do command -v $tool; done; true")
    c = containers.run(command=["bash", "-c", script])
    assert containers.wait_exit(c, 120) == 0
    lines = containers.logs_of(c).splitlines()
    assert lines[0].endswith(f", mspasspy {image.labels['io.mspass.mspasspy-version']}"), lines
    assert lines[1].startswith("MSPASS_HOME=/opt/mspass/venv/") and lines[1].endswith("/mspasspy"), lines
    assert lines[2:] == ["import ok"], f"a compiler or build tool is in the image: {lines[2:]}"


def _pem_bodies(text: str) -> set[str]:
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----\s+(.+?)\s+-----END CERTIFICATE-----", text, re.S)
    return {"".join(b.split()) for b in blocks}


def _private_cas() -> set[str]:
    """CAs this host trusts beyond the public ones: locally added (update-ca-certificates),
    plus EXTRA_CA_CERT when it is its own file (the CA a TLS-intercepting proxy uses)."""
    files = list(Path("/usr/local/share/ca-certificates").rglob("*.crt"))
    extra = os.environ.get("EXTRA_CA_CERT", "")
    if extra and Path(extra).resolve() != Path("/etc/ssl/certs/ca-certificates.crt").resolve():
        files.append(Path(extra))
    return set().union(*(_pem_bodies(f.read_text()) for f in files))


def test_the_build_ca_is_not_in_the_image(containers, image):
    """The CA handed to the build as a secret leaves no trace in any file or layer."""
    private = _private_cas()
    require(private, "a private CA on this host to look for (EXTRA_CA_CERT or a locally added CA)")
    c = containers.run(command=["true"])
    containers.wait_exit(c, 60)
    # a 64-character line from the middle of each certificate: no unrelated file has it
    needles = [body[64:128].encode() for body in private]
    found = []
    with tarfile.open(fileobj=_Stream(c.export()), mode="r|") as tar:
        for member in tar:
            if member.isfile() and member.size:
                data = tar.extractfile(member).read()
                found += [member.name for n in needles if n in data]
    assert not found, f"build CA material found in the image: {found[:5]}"
    history = " ".join(h.get("CreatedBy", "") for h in image.history())
    assert not any(n.decode() in history for n in needles)


class _Stream(io.RawIOBase):
    """A file object over docker's export chunks, for tarfile's streaming mode."""

    def __init__(self, chunks):
        self.chunks, self.buffer = iter(chunks), b""

    def readable(self):
        return True

    def readinto(self, out):
        while not self.buffer:
            self.buffer = next(self.chunks, None)
            if self.buffer is None:
                return 0
        n = min(len(out), len(self.buffer))
        out[:n], self.buffer = self.buffer[:n], self.buffer[n:]
        return n


def test_health_follows_the_service(containers):
    """The image's own HEALTHCHECK (health --quick every 5 s, from the supervisor's checks);
    the role given as an argument, which the HEALTHCHECK command does not see."""
    c = containers.run("db", ["db"])
    assert c.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "mspass-role", "health", "--quick"]
    containers.wait_healthy(c)
    pid = c.exec_run(["pgrep", "-x", "ferretdb|mongod"]).output.decode().split()[0]

    c.exec_run(["kill", "-STOP", pid])  # alive but not answering: the supervisor's next check says so
    containers.wait_health(c, "unhealthy", 120)
    c.exec_run(["kill", "-CONT", pid])
    containers.wait_health(c, "healthy", 120)


def test_a_killed_container_starts_again(containers):
    """docker kill (or an OOM kill, a reboot) leaves the state file in the container; on
    docker start the supervisor often gets the same PID, and must not refuse to run."""
    c = containers.run("db", ["db"], healthcheck=FAST_HEALTH)
    containers.wait_healthy(c)
    for _ in range(3):
        c.kill()
        c.wait(timeout=30)
        c.start()
        containers.wait_healthy(c)
    c.reload()
    assert c.attrs["RestartCount"] == 0 and c.attrs["State"]["ExitCode"] == 0
    assert "already runs" not in containers.logs_of(c)


def test_health_is_unhealthy_without_a_role(containers):
    # start_period 0 would mean "the image's 120 s"; 1 ms is the smallest real value
    c = containers.run(command=["sleep", "60"], healthcheck={**FAST_HEALTH, "start_period": 1_000_000})
    containers.wait_health(c, "unhealthy", 60)
    assert "no running mspass role" in c.exec_run(["mspass-role", "health"]).output.decode()


def test_single_role_containers_become_healthy(containers):
    net = containers.network()
    run = {"network": net}  # the image's own health check
    db = containers.run("db", environment={"MSPASS_ROLE": "db"}, **run)
    scheduler = containers.run("scheduler", environment={"MSPASS_ROLE": "scheduler"}, **run)
    worker = containers.run("worker1", environment={"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "scheduler"},
                            **run)
    frontend = containers.run("frontend", environment={"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "db",
                                                       "MSPASS_SCHEDULER_ADDRESS": "scheduler"}, **run)
    for c in (db, scheduler, worker, frontend):
        containers.wait_healthy(c)
    assert "Jupyter is ready" in containers.logs_of(frontend)


def test_a_first_start_offers_the_getting_started_notebook_and_the_dashboard_link_answers(containers, tmp_path):
    """An empty work dir gets the getting-started notebook, and it runs. The dashboard link
    a notebook shows answers from the host: `docker run -p PORT:8787 -e
    DASK_DISTRIBUTED__DASHBOARD__LINK=...`, as the README says for a dashboard published on
    another port (mspass-desktop does the same)."""
    work = tmp_path / "work"
    work.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    link = f"http://127.0.0.1:{port}/status"
    c = containers.run(user=f"{os.getuid()}:{os.getgid()}", volumes={str(work): {"bind": "/home", "mode": "rw"}},
                       ports={"8787/tcp": ("127.0.0.1", port)}, environment={"DASK_DISTRIBUTED__DASHBOARD__LINK": link})
    containers.wait_healthy(c)
    assert sorted(p.name for p in work.glob("*.ipynb")) == ["getting_started.ipynb"]
    first = c.exec_run(["mspass-role", "--batch", "getting_started.ipynb"], user=f"{os.getuid()}:{os.getgid()}")
    assert first.exit_code == 0, first.output.decode()[-3000:]
    assert "stacked 8 traces" in (work / "logs" / "getting_started.executed.ipynb").read_text()

    shutil.copy(NOTEBOOKS / "mspass_workflow.ipynb", work)
    run = c.exec_run(["mspass-role", "--batch", "mspass_workflow.ipynb", "-p", "n_data", "6"],
                     user=f"{os.getuid()}:{os.getgid()}")
    assert run.exit_code == 0, run.output.decode()[-3000:]
    found = check(summary(work), 6)
    assert found["components"]["dashboard_link"] == link
    assert http_status(link) == 200


def test_a_neighbour_on_its_network_reaches_neither_the_database_nor_dask_of_the_all_in_one(containers):
    """`docker run --network NET mspass`: another container on NET finds the database and
    the scheduler refused (they listen on the container's loopback: no login by default);
    Jupyter, which asks for its token, and the dashboard answer, so that they can be published."""
    net = containers.network()
    allinone = containers.run("allinone", network=net)
    containers.wait_healthy(allinone)
    probe = ("import socket\n"
             "for port in (27017, 8786, 8888, 8787):\n"
             "    with socket.socket() as s:\n"
             "        s.settimeout(10)\n"
             "        print(port, s.connect_ex(('allinone', port)))\n")
    outsider = containers.run("outsider", ["python", "-c", probe], network=net)
    assert containers.wait_exit(outsider, 60) == 0, containers.logs_of(outsider)
    found = dict(line.split() for line in containers.logs_of(outsider).splitlines() if line.strip())
    refused = str(errno.ECONNREFUSED)
    assert (found["27017"], found["8786"]) == (refused, refused), found
    assert (found["8888"], found["8787"]) == ("0", "0"), found
    # inside, everything is there: the container's own processes reach them on loopback
    inside = allinone.exec_run(["python", "-c", "import pymongo; print(pymongo.MongoClient('mongodb://127.0.0.1:27017/',"
                                                " serverSelectionTimeoutMS=10000).admin.command('ping')['ok'])"])
    assert inside.output.decode().strip() == "1.0", inside.output.decode()


def test_mspass_workflow_as_the_host_user_on_a_bind_mount(containers, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(NOTEBOOKS / "mspass_workflow.ipynb", work)
    for path in (work, work / "mspass_workflow.ipynb"):
        os.chown(path, 12345, 12345)
    c = containers.run(command=["--batch", "mspass_workflow.ipynb", "-p", "n_data", "12"], user="12345:12345",
                       volumes={str(work): {"bind": "/home", "mode": "rw"}})
    assert containers.wait_exit(c, 300) == 0, containers.logs_of(c)
    summary = json.loads((work / "mspass_workflow-summary.json").read_text())
    check(summary, 12)
    written = [p for p in work.rglob("*")]
    assert (work / "logs" / "mspass_workflow.executed.ipynb") in written and (work / "db") in written
    assert {(p.stat().st_uid, p.stat().st_gid) for p in written} == {(12345, 12345)}
