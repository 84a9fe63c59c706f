"""Harness for tier 2: role processes whose output a test can wait on and search."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import NOTEBOOKS
from tests.support.wait import wait_until
from tests.support.workflow import check

READY_TIMEOUT = 120


def free_ports(n: int) -> list[int]:
    """n distinct ports free on loopback right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def ready_state(run_dir: Path, pid: int) -> dict | None:
    """The state file the supervisor with this pid wrote, once it says every service is
    ready (the supervisor's interface for launchers and tests; no log text)."""
    for path in run_dir.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("pid") == pid and data.get("ready"):
            return data
    return None


class RoleProcess:
    """One `python -m mspass_roles ...` process; its output goes to a file we can search."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], out: Path):
        self.name = name
        self.out = out
        self.env = env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mspass_roles", *args],
            env=env,
            cwd=env.get("MSPASS_WORK_DIR"),
            stdout=open(out, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def _alive(self, before: str) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.proc.returncode} before {before}:\n{self.output()}",
                        pytrace=False)

    def wait_for(self, pattern: str, timeout: float = READY_TIMEOUT, count: int = 1) -> re.Match:
        """Wait until `pattern` occurs `count` times in the output; fail early if the process
        exits. Returns the last match."""
        def found() -> re.Match | None:
            matches = list(re.finditer(pattern, self.output(), re.MULTILINE))
            if len(matches) >= count:
                return matches[-1]
            self._alive(f"printing {pattern!r}")
            return None

        return wait_until(found, timeout, f"{self.name}: {pattern!r}", interval=0.1, details=self.output)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict:
        """Wait until this role's state file says every service is ready; return the state."""
        def ready() -> dict | None:
            found = ready_state(Path(self.env["MSPASS_RUN_DIR"]), self.proc.pid)
            if not found:
                self._alive("it was ready")
            return found

        return wait_until(ready, timeout, f"{self.name} ready", interval=0.05, details=self.output)

    def wait_exit(self, timeout: float = READY_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} still running after {timeout} s:\n{self.output()}", pytrace=False)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        try:  # the supervisor's session: whatever it left behind
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()


class Roles:
    """Starts role processes for one test and cleans up after it."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.started: list[RoleProcess] = []
        ports = free_ports(11)
        self.work = tmp_path / "work"
        self.work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MSPASS_", "DASK_", "JUPYTER_"))}
        env.update({
            "MSPASS_WORK_DIR": str(self.work),
            "MSPASS_RUN_DIR": str(tmp_path / "run"),
            "MSPASS_BIND_ADDRESS": "127.0.0.1",  # test traffic stays on loopback
            "MONGODB_PORT": str(ports[0]),
            "DASK_SCHEDULER_PORT": str(ports[1]),
            "DASK_DASHBOARD_PORT": str(ports[2]),
            "JUPYTER_PORT": str(ports[3]),
            "SPARK_MASTER_PORT": str(ports[5]),
            "SPARK_MASTER_WEBUI_PORT": str(ports[6]),
            "SPARK_WORKER_WEBUI_PORT": str(ports[7]),
            "MSPASS_SPARK_DRIVER_PORT": str(ports[8]),
            "MSPASS_SPARK_BLOCKMANAGER_PORT": str(ports[9]),
            "SPARK_WORKER_CORES": "1",
            "SPARK_WORKER_MEMORY": "1g",
            "MSPASS_WAIT_TIMEOUT": "90",
            "MSPASS_READY_TIMEOUT": "90",
            "MSPASS_SLEEP_TIME": "0.5",
        })
        self.env = env
        self.spare_ports = [ports[4], ports[10]]

    def start(self, name: str, *args: str, **env: str) -> RoleProcess:
        merged = {**self.env, **env}
        proc = RoleProcess(name, list(args), merged, self.tmp / f"{name}.out")
        self.started.append(proc)
        return proc

    def workflow(self, n_data: int, **env: str) -> dict:
        """The MsPASS workflow notebook in a frontend batch run against this machine's db and
        scheduler: it must pass and hold every datum; its summary."""
        run = self.start("frontend", "frontend", "--batch", str(NOTEBOOKS / "mspass_workflow.ipynb"),
                         "-p", "n_data", str(n_data), "-p", "expect_workers", "1",
                         MSPASS_DB_ADDRESS="127.0.0.1", MSPASS_SCHEDULER_ADDRESS="127.0.0.1", **env)
        assert run.wait_exit(300) == 0, run.output()
        summary = json.loads((self.work / "mspass_workflow-summary.json").read_text())
        check(summary, n_data)
        return summary

    def logs(self) -> str:
        parts = []
        for proc in self.started:
            parts.append(f"===== {proc.name} (exit {proc.proc.returncode}) =====\n{proc.output()}")
        for log in sorted((self.work / "logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-30:]
            parts.append(f"----- {log.name} (last 30 lines) -----\n" + "\n".join(tail))
        return "\n".join(parts)

    def cleanup(self) -> None:
        for proc in reversed(self.started):
            proc.stop()


def mongo(env: dict[str, str]):
    import pymongo

    return pymongo.MongoClient(f"mongodb://127.0.0.1:{env['MONGODB_PORT']}/", serverSelectionTimeoutMS=10000)
