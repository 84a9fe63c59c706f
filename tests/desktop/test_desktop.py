"""mspass-desktop against the real Docker engine: up, URLs, run, down, errors."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.paths import NOTEBOOKS
from tests.support.prerequisites import http_status
from tests.support.terminal import Terminal
from tests.support.wait import wait_until

pytestmark = pytest.mark.desktop



def desktop(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mspass_roles.desktop", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def workdir(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for name in ("roundtrip.ipynb", "count_docs.py", "worker_size.py"):
        shutil.copy(NOTEBOOKS / name, work)
    return work


@pytest.fixture
def name(docker, image):
    """A container name for this test; whatever runs under it is removed afterwards."""
    from docker.errors import NotFound

    name = f"mspass-test-desktop-{uuid.uuid4().hex[:6]}"
    yield name
    try:
        docker.containers.get(name).remove(force=True)
    except NotFound:
        pass


def opts(name: str, port: int | None = None) -> list[str]:
    return ["--name", name, "--port", str(port or free_port()), "--dashboard-port", str(free_port())]


def jupyter_url(output: str) -> tuple[str, str]:
    match = re.search(r"(http://127\.0\.0\.1:\d+)/lab\?token=([\w.~-]+)", output)
    assert match, output
    return match.group(1), match.group(2)


def test_up_run_down_and_up_again_keeps_the_data(docker, image, workdir, name):
    up = desktop("up", str(workdir), *opts(name), "--no-browser")
    assert up.returncode == 0, up.stderr + up.stdout
    base, token = jupyter_url(up.stdout)
    assert http_status(f"{base}/api/status", token) == 200 and http_status(f"{base}/api/status") == 403
    # the token is nowhere in `docker inspect`: not in the environment, nor in the health checks' output
    # (wait for the first health check: `up` returns on the role's own probes, before docker's first run)
    attrs = wait_until(lambda: (a := docker.containers.get(name).attrs)["State"]["Health"]["Log"] and a,
                       30, "the container's first health check")
    assert token not in json.dumps(attrs)
    assert "dashboard" in up.stdout

    run = desktop("run", "--name", name, str(workdir / "roundtrip.ipynb"), "-p", "n_tasks", "20")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "already run here" in run.stdout  # it used the running container
    assert (workdir / "logs" / "roundtrip.executed.ipynb").stat().st_uid == os.getuid()

    contents = f"mspasspy {image.labels['io.mspass.mspasspy-version']}, database {image.labels['io.mspass.db-engine']}"
    assert contents in up.stdout
    status = desktop("status", "--name", name)
    assert status.returncode == 0 and f"contents  {contents}" in status.stdout
    version = desktop("--version", "--image", image.tags[0])
    assert version.stdout.splitlines()[1] == f"image {image.tags[0]}: {contents}", version.stdout
    assert desktop("url", "--name", name).stdout.strip() == f"{base}/lab?token={token}"
    logs = desktop("logs", "db", "--name", name)
    assert logs.returncode == 0 and "starting db" in logs.stdout

    down = desktop("down", "--name", name)
    assert down.returncode == 0, down.stderr
    assert desktop("status", "--name", name).returncode == 1

    again = desktop("up", str(workdir), *opts(name), "--no-browser")
    assert again.returncode == 0, again.stderr
    count = desktop("run", "--name", name, str(workdir / "count_docs.py"))
    assert "documents: 20" in count.stdout, count.stdout + count.stderr


def test_a_taken_port_moves_to_a_free_one(workdir, name):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        up = desktop("up", str(workdir), *opts(name, port=taken), "--no-browser")
    finally:
        blocker.close()
    assert up.returncode == 0, up.stderr
    assert f"port {taken} is taken" in up.stderr
    base, token = jupyter_url(up.stdout)
    assert not base.endswith(f":{taken}")
    assert http_status(f"{base}/api/status", token) == 200


def test_workers_are_sized_to_cpus_and_memory(workdir, name):
    up = desktop("up", str(workdir), *opts(name), "--no-browser", "--cpus", "1", "--memory", "2g")
    assert up.returncode == 0, up.stderr
    run = desktop("run", "--name", name, str(workdir / "worker_size.py"))
    assert run.returncode == 0, run.stdout + run.stderr
    line = re.search(r"^workers: (.*)$", run.stdout, re.M).group(1)
    (threads, memory), = ast.literal_eval(line)
    assert threads == 1
    assert 1 << 30 < memory <= 2 << 30


def test_a_batch_run_without_a_running_container(workdir, name):
    run = desktop("run", "--name", name, str(workdir / "roundtrip.ipynb"), "-p", "n_tasks", "8")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "batch finished (exit code 0" in run.stdout
    failing = workdir / "failing.ipynb"
    shutil.copy(NOTEBOOKS / "failing.ipynb", failing)
    assert desktop("run", "--name", name, str(failing)).returncode != 0


def test_settings_from_the_work_dir_config_file(workdir, name):
    port = free_port()
    (workdir / "mspass-desktop.toml").write_text(f'name = "{name}"\nport = {port}\nbrowser = false\n')
    up = desktop("up", str(workdir), "--dashboard-port", str(free_port()))
    assert up.returncode == 0, up.stderr
    assert f"http://127.0.0.1:{port}/lab" in up.stdout


@pytest.mark.parametrize("case", ["docker-not-running", "image-missing", "workdir-not-writable", "name-taken"])
def test_errors_say_what_to_do_and_leave_nothing_running(docker, workdir, name, case):
    args, env = ["up", str(workdir), *opts(name), "--no-browser"], {}
    if case == "docker-not-running":
        env["DOCKER_HOST"] = f"unix://{workdir}/no-docker.sock"
        expected = "Docker is not running"
    elif case == "image-missing":
        args += ["--image", "mspass:no-such-tag"]
        expected = "make build"
    elif case == "workdir-not-writable":
        args[1] = str(workdir / "missing")
        expected = "does not exist"
    else:
        docker.containers.create("mspass:latest", ["true"], name=name)
        expected = "exists already"
    result = desktop(*args, env=env)
    assert result.returncode != 0
    assert expected in result.stderr
    running = [c.name for c in docker.containers.list(filters={"label": "io.mspass.desktop"})]
    assert name not in running


def test_bare_mspass_desktop_runs_until_ctrl_c_and_keeps_the_database(docker, workdir, name, tmp_path):
    # MsPASS's own launcher is typed bare, with -c FILE; the browser it opens records the URL
    config = tmp_path / "desktop.toml"
    config.write_text(f'name = "{name}"\nport = {free_port()}\ndashboard_port = {free_port()}\n')
    opened = tmp_path / "opened-url"
    browser = f"{sys.executable} -c \"import sys; open('{opened}', 'w').write(sys.argv[1])\" %s"
    shutil.copy(NOTEBOOKS / "dashboard_link.py", workdir)
    term = Terminal([str(Path(sys.executable).parent / "mspass-desktop"), "-c", str(config)], workdir,
                    {"BROWSER": browser})
    try:
        term.wait_for(r"Press Ctrl-C to stop", 300)
        base, token = jupyter_url(term.text)
        assert opened.read_text() == f"{base}/lab?token={token}"  # Jupyter was opened, with its token
        assert http_status(f"{base}/api/status", token) == 200
        assert re.search(r"dashboard +http://127\.0\.0\.1:\d+/status", term.text), term.text

        # work done in the session, and the dashboard link a notebook shows answers from here
        assert desktop("run", "--name", name, str(workdir / "roundtrip.ipynb"), "-p", "n_tasks", "12").returncode == 0
        link = re.search(r"^dashboard: (\S+)$", desktop("run", "--name", name, str(workdir / "dashboard_link.py")).stdout,
                         re.M).group(1)
        assert http_status(link) == 200, link

        term.ctrl_c()
        assert term.wait_exit(180) == 0, term.text[-3000:]
    except BaseException:
        os.kill(term.pid, 9)
        os.waitpid(term.pid, 0)
        raise
    assert "Ctrl-C" in term.text and f"stopped {name}" in term.text
    from docker.errors import NotFound

    with pytest.raises(NotFound):  # the container is gone, stopped as `down` stops it
        docker.containers.get(name)
    count = desktop("run", "--name", name, str(workdir / "count_docs.py"))
    assert "documents: 12" in count.stdout, count.stdout + count.stderr  # the database kept its data
