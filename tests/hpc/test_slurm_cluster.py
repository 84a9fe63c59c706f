"""Smoke tests of the emulated Slurm cluster (tests/support/slurm.py): the harness that
the HPC tier submits MsPASS job scripts to. One cluster (ctl + c1..c3) serves the module."""

from __future__ import annotations

import secrets

import pytest

from tests.support.prerequisites import require
from tests.hpc.conftest import NODES, SIF_DIR, SIF_NAME
from tests.support.slurm import CONTROLLER, PY39_BIN, SlurmCluster
from tests.support.wait import wait_until

pytestmark = pytest.mark.hpc

MSPASS_UID = 1000
# as after `module load python3/3.9.2`: the 3.9 interpreter first, then the image's PATH
PY39_ENV = {"PATH": f"{PY39_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
# fetch a URL with the image's own python3 (no curl there); exits non-zero until it answers
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode(), end='')"


def write_script(cluster: SlurmCluster, name: str, body: str) -> str:
    """A batch script on /shared (readable by the job's user); its path in the cluster."""
    path = cluster.shared / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return f"/shared/{name}"


def sleeping_on(cluster: SlurmCluster, node: str | None) -> bool:
    """Whether user mspass runs a `sleep` on the node (the containers' own `sleep infinity`
    runs as root)."""
    return node in NODES and cluster.exec(node, ["pgrep", "-u", "mspass", "-x", "sleep"], user="root")[0] == 0


def test_sinfo_shows_every_node_idle(cluster):
    assert cluster.node_states() == {name: "idle" for name in NODES}


def test_srun_on_three_nodes_as_mspass(cluster):
    code, out = cluster.exec("ctl", ["srun", "-N3", "hostname"], workdir="/shared")
    assert code == 0, out
    assert sorted(out.split()) == NODES


def test_batch_job_writes_to_shared(cluster):
    script = write_script(cluster, "hello.sh",
                          "#SBATCH --output=/shared/hello-%j.out\n"
                          'echo "hello from $(hostname) as $(id -un)" >/shared/hello-$SLURM_JOB_ID.txt\n')
    job = cluster.sbatch(script)
    assert cluster.wait_job(job, timeout=30) == ("COMPLETED", "0:0")
    result = cluster.shared / f"hello-{job}.txt"
    assert result.read_text().split()[-1] == "mspass"
    assert result.read_text().split()[2] in NODES
    assert result.stat().st_uid == MSPASS_UID


def test_failing_job_ends_failed_with_its_exit_code(cluster):
    script = write_script(cluster, "fail.sh", "#SBATCH --output=/shared/fail-%j.out\nexit 3\n")
    job = cluster.sbatch(script)
    assert cluster.wait_job(job, timeout=30) == ("FAILED", "3:0")


def test_scancel_kills_a_running_job(cluster):
    script = write_script(cluster, "sleep.sh", "#SBATCH --output=/shared/sleep-%j.out\nsleep 300\n")
    job = cluster.sbatch(script)
    # running, and its sleep process exists, so that scancel has something to kill
    wait_until(lambda: sleeping_on(cluster, cluster.job_info(job).get("NodeList")), 30,
               f"job {job} running a sleep", details=lambda: str(cluster.job_info(job)))
    cluster.scancel(job)
    wait_until(lambda: not cluster.squeue(), 20, "an empty queue",  # KillWait=10 at most
               details=lambda: str(cluster.squeue()))
    assert cluster.wait_job(job, timeout=10)[0] == "CANCELLED"
    assert not [name for name in NODES if sleeping_on(cluster, name)]


def test_apptainer_under_slurm_on_two_nodes(cluster):
    require((SIF_DIR / SIF_NAME).is_file(), f"the SIF {SIF_DIR / SIF_NAME}; run `make sif`")
    # stderr apart: Apptainer's INFO lines (e.g. "gocryptfs not found") go there
    script = write_script(cluster, "apptainer.sh",
                          "#SBATCH --nodes=2 --output=/shared/apptainer-%j.out --error=/shared/apptainer-%j.err\n"
                          f"srun -N2 apptainer exec --no-eval /sif/{SIF_NAME} hostname\n")
    job = cluster.sbatch(script)
    state = cluster.wait_job(job, timeout=120)
    out = (cluster.shared / f"apptainer-{job}.out").read_text()
    err = (cluster.shared / f"apptainer-{job}.err").read_text()
    assert state == ("COMPLETED", "0:0"), out + err
    names = out.split()
    assert len(names) == 2 and len(set(names)) == 2 and set(names) < set(NODES), out + err


def start_background(cluster: SlurmCluster, node: str, command: str, log: str) -> int:
    """Start a shell command as mspass in the background on `node`; its PID. Its output goes
    to `log`: docker exec would wait for a process that keeps the exec's stdout open."""
    code, out = cluster.exec(node, f"nohup {command} >{log} 2>&1 </dev/null & echo $!")
    assert code == 0, out
    return int(out)


def alive(cluster: SlurmCluster, node: str, pid: int) -> bool:
    return cluster.exec(node, ["kill", "-0", str(pid)])[0] == 0


def stop_background(cluster: SlurmCluster, node: str, pid: int) -> None:
    cluster.exec(node, ["kill", str(pid)])
    wait_until(lambda: not alive(cluster, node, pid), 10, f"PID {pid} on {node} ended")


def fetch(cluster: SlurmCluster, node: str, url: str, watched: list[tuple[str, int, str]]) -> str | None:
    """The body at `url` fetched on `node`, or None while nothing answers. Raises (ends the
    wait) when one of the `watched` processes (node, PID, log) has exited, with its log."""
    for where, pid, log in watched:
        if not alive(cluster, where, pid):
            raise AssertionError(f"PID {pid} on {where} exited:\n{cluster.exec(where, ['cat', log])[1]}")
    code, out = cluster.exec(node, ["python3", "-c", FETCH, url])
    return out if code == 0 else None


def test_python39_on_every_node_next_to_the_default_python3(cluster):
    for name in [CONTROLLER, *NODES]:
        code, out = cluster.exec(name, ["python3", "-c", "import sqlite3, ssl, sys; "
                                        "print(sys.version_info[:2] == (3, 9), ssl.OPENSSL_VERSION.split()[0],"
                                        " bool(sqlite3.sqlite_version))"], env=PY39_ENV)
        assert (code, out.split()) == (0, ["True", "OpenSSL", "True"]), f"{name}: {out}"
        code, out = cluster.exec(name, ["python3", "-c", "import sys; print(sys.version_info[:2] > (3, 9))"])
        assert (code, out.strip()) == (0, "True"), f"{name}: {out}"


def test_python39_runs_srun_on_three_nodes(cluster):
    # srun passes PATH on, so every task's python3 is 3.9 too
    code, out = cluster.exec(CONTROLLER, [
        "python3", "-c",
        "import subprocess; print(subprocess.run(['srun', '-N3', 'python3', '-c',"
        " 'import platform, socket; print(socket.gethostname(), platform.python_version())'],"
        " check=True, capture_output=True, text=True).stdout, end='')"], env=PY39_ENV, workdir="/shared")
    assert code == 0, out
    lines = sorted(line.split() for line in out.splitlines())
    assert [name for name, _ in lines] == NODES, out
    assert all(version.startswith("3.9.") for _, version in lines), out


@pytest.mark.parametrize("node, argv, expected", [
    (CONTROLLER, ["ssh", "c1", "hostname; id -un"], ["c1", "mspass"]),
    (CONTROLLER, ["ssh", "-J", CONTROLLER, "c2", "hostname"], ["c2"]),  # through the login node
    ("c1", ["ssh", "c3", "hostname"], ["c3"]),  # node to node
    ("c2", ["ssh", "localhost", "hostname"], ["c2"]),
])
def test_ssh_as_mspass_without_prompts(cluster, node, argv, expected):
    # stdout and stderr together: no "Permanently added ... to known hosts" either
    code, out = cluster.exec(node, argv)
    assert (code, out.split()) == (0, expected), out


def test_ssh_keys_private_to_mspass_everywhere(cluster):
    for name in [CONTROLLER, *NODES]:
        code, out = cluster.exec(name, "cd ~/.ssh && stat -c '%n %U %a' . id_ed25519 authorized_keys")
        assert (code, out.splitlines()) == (0, [". mspass 700", "id_ed25519 mspass 600",
                                                "authorized_keys mspass 600"]), f"{name}: {out}"


@pytest.mark.parametrize("tunnel", ["local", "reverse"])
def test_ssh_port_forward_reaches_a_server_on_a_node_loopback(cluster, tunnel):
    """A page served on c1's 127.0.0.1 (by Python 3.9) is fetched on ctl's 127.0.0.1 through
    ssh: local, ctl forwards through a jump over itself to c1 (a user's `ssh -J login -L`);
    reverse, c1 forwards its server back to ctl (a job publishing a notebook)."""
    token = secrets.token_hex(8)
    site = cluster.shared / f"site-{tunnel}"
    site.mkdir()
    (site / "page.txt").write_text(token)
    server_port, tunnel_port = (8701, 18701) if tunnel == "local" else (8702, 18702)
    started: list[tuple[str, int, str]] = []
    try:
        log = f"/tmp/http-{tunnel}.log"
        server = f"{PY39_BIN}/python3 -m http.server --bind 127.0.0.1 --directory /shared/{site.name} {server_port}"
        started.append(("c1", start_background(cluster, "c1", server, log), log))
        wait_until(lambda: fetch(cluster, "c1", f"http://127.0.0.1:{server_port}/page.txt", started), 20,
                   "the server on c1")
        forward = f"127.0.0.1:{tunnel_port}:127.0.0.1:{server_port}"
        log = f"/tmp/ssh-{tunnel}.log"
        if tunnel == "local":
            node, command = CONTROLLER, f"ssh -N -o ExitOnForwardFailure=yes -J {CONTROLLER} -L {forward} c1"
        else:
            node, command = "c1", f"ssh -N -o ExitOnForwardFailure=yes -R {forward} {CONTROLLER}"
        started.append((node, start_background(cluster, node, command, log), log))
        page = wait_until(lambda: fetch(cluster, CONTROLLER, f"http://127.0.0.1:{tunnel_port}/page.txt", started),
                          20, f"the page through the {tunnel} forward")
        assert page == token
    finally:
        for node, pid, _ in reversed(started):
            stop_background(cluster, node, pid)
