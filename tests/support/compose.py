"""A Compose project for tests and benchmarks: the repository's compose files, run with the
`docker compose` CLI (Compose has no Python API), under a project name of its own, with
settings passed as the environment a user would put in .env."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from tests.support.containers import IMAGE
from tests.support.paths import NOTEBOOKS, REPO
from tests.support.prerequisites import require
from tests.support.processes import free_ports

TIMEOUT = 300
#: the uid:gid the containers run as: not root, so file ownership is a real test
USER = (1234, 1234)


def require_compose() -> None:
    found = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    require(found.returncode == 0, f"Compose v2 (`docker compose`): {found.stderr.strip()}; run `make deps`")
    image = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True)
    require(image.returncode == 0, f"the image {IMAGE}; run `make build`")


class Compose:
    """One project: `up`, `exec`, `ps`, `down`, always cleaned up by `remove()`."""

    def __init__(self, work: Path, *files: str, **settings: str):
        self.project = f"mspass-test-{uuid.uuid4().hex[:8]}"
        self.files = [str(REPO / f) for f in (files or ("compose.yaml",))]
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        for notebook in NOTEBOOKS.iterdir():
            if notebook.is_file():
                shutil.copy2(notebook, work)
        for path in [work, *work.iterdir()]:
            os.chown(path, *USER)
        jupyter, dashboard = free_ports(2)
        self.ports = {"JUPYTER_PORT": jupyter, "DASK_DASHBOARD_PORT": dashboard}
        self.env = {**os.environ, "MSPASS_IMAGE": IMAGE, "MSPASS_USER": f"{USER[0]}:{USER[1]}",
                    "MSPASS_WORK_DIR": str(work), "MSPASS_WORKER_CPUS": "1", "MSPASS_WORKER_MEMORY": "1536m",
                    **{k: str(v) for k, v in self.ports.items()}, **settings}

    def command(self, *args: str) -> list[str]:
        return ["docker", "compose", "--project-name", self.project,
                *[a for f in self.files for a in ("--file", f)], *args]

    def run(self, *args: str, timeout: float = TIMEOUT, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{self.logs()}")
        return result

    def up(self, *args: str) -> subprocess.CompletedProcess:
        """`up --detach --wait`: returns once every service is healthy."""
        return self.run("up", "--detach", "--wait", *args)

    def exec(self, service: str, *argv: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
        return self.run("exec", "-T", service, *argv, timeout=timeout, check=False)

    def batch(self, *argv: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
        """A notebook or script run in the frontend, as a user does it."""
        return self.exec("frontend", "mspass-role", "--batch", *argv, timeout=timeout)

    def popen_batch(self, *argv: str) -> subprocess.Popen:
        return subprocess.Popen(self.command("exec", "-T", "frontend", "mspass-role", "--batch", *argv),
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def containers(self) -> list[dict]:
        """`docker compose ps --all` as a list of dicts (Service, Name, State, Publishers...)."""
        out = self.run("ps", "--all", "--format", "json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def documents(self, collection: str) -> int:
        result = self.batch("count_docs.py", collection)
        found = [line for line in result.stdout.splitlines() if line.startswith("documents: ")]
        assert result.returncode == 0 and found, result.stdout + result.stderr
        return int(found[-1].split()[1])

    def logs(self) -> str:
        result = subprocess.run(self.command("logs", "--no-color", "--tail", "60"), env=self.env,
                                capture_output=True, text=True)
        return result.stdout[-20000:]

    def remove(self) -> None:
        subprocess.run(self.command("down", "--volumes", "--remove-orphans", "--timeout", "60"), env=self.env,
                       capture_output=True)
