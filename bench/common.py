"""Helpers shared by the benchmarks: loopback environments, role processes, stopping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# the project's FerretDB, also when a benchmark runs outside `make`
os.environ["PATH"] = f"{REPO / '.build' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"

from tests.support.processes import free_ports, ready_state  # noqa: E402
from tests.support.wait import wait_until  # noqa: E402

TIMEOUT = 180


def environment(tmp: Path) -> dict[str, str]:
    """A clean environment for roles on loopback, with fresh ports and dirs under tmp."""
    ports = free_ports(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MSPASS_", "DASK_", "JUPYTER_"))}
    env.update({
        "MSPASS_WORK_DIR": str(tmp / "work"),
        "MSPASS_RUN_DIR": str(tmp / "run"),
        "MSPASS_BIND_ADDRESS": "127.0.0.1",
        "MONGODB_PORT": str(ports[0]),
        "DASK_SCHEDULER_PORT": str(ports[1]),
        "DASK_DASHBOARD_PORT": str(ports[2]),
        "JUPYTER_PORT": str(ports[3]),
    })
    (tmp / "work").mkdir(exist_ok=True)
    return env


def start_role(args: list[str], env: dict[str, str], out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mspass_roles", *args], env=env, stdout=open(out, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(proc: subprocess.Popen, env: dict[str, str], timeout: float = TIMEOUT) -> dict:
    """Wait until the role's state file says it is ready (see tests.support.processes)."""
    def ready() -> dict | None:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with code {proc.returncode} before it was ready")
        return ready_state(Path(env["MSPASS_RUN_DIR"]), proc.pid)

    return wait_until(ready, timeout, f"{proc.args} ready", interval=0.02, error=SystemExit)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
