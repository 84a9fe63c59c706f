"""Issue 26: what a user reads is theirs. A clean batch run prints no warning and no
traceback; a failing notebook's own error comes first, without papermill's traceback;
health checks leave no lines in the scheduler's log."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.paths import NOTEBOOKS

pytestmark = pytest.mark.process

#: what reads as trouble in a run's output (the supervisor's own words, Python's, dask's)
TROUBLE = re.compile(r"WARNING|Warning|ERROR|Error|Exception|Traceback|exception was never retrieved")


def without_ids(source: Path, target: Path) -> Path:
    """A copy of a notebook whose cells have no ids (nbformat 4.5 wants them: nbformat
    warns, papermill gives them ids and runs it), as many users' notebooks are."""
    nb = json.loads(source.read_text())
    assert nb["nbformat_minor"] >= 5
    for cell in nb["cells"]:
        cell.pop("id", None)
    target.write_text(json.dumps(nb))
    return target


def test_a_clean_batch_run_prints_no_warning_and_no_traceback(roles):
    notebook = without_ids(NOTEBOOKS / "roundtrip.ipynb", roles.work / "no_ids.ipynb")
    run = roles.start("all", "all", "--batch", str(notebook), "-p", "n_tasks", "8")
    assert run.wait_exit() == 0, run.output()
    out = run.output()
    assert "batch finished" in out, out
    assert json.loads((roles.work / "roundtrip-summary.json").read_text())["documents"] == 8
    trouble = [line for line in out.splitlines() if TROUBLE.search(line)]
    assert not trouble, out
    assert "without encryption" not in out and "MissingIDField" not in out, out


def test_a_failing_notebook_shows_its_own_error_first(roles):
    run = roles.start("all", "all", "--batch", str(NOTEBOOKS / "failing.ipynb"))
    assert run.wait_exit() == 1, run.output()
    out = run.output()
    lines = out.splitlines()
    first = next(line for line in lines if TROUBLE.search(line))
    assert "RuntimeError: deliberate failure 42" in first, out
    # the notebook's traceback, not papermill's nor click's
    assert not any(line.startswith("Traceback (most recent call last)") for line in lines), out
    assert "PapermillExecutionError" not in out and "/click/" not in out and "/papermill/" not in out, out
    assert "Cell In[2], line 1" in out, out
    assert "failing.executed.ipynb" in out and "batch failed (exit code 1" in out, out


def log_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def test_health_checks_leave_no_lines_in_the_scheduler_log(roles):
    """Each check connected to the scheduler's port to see whether it listens, then closed:
    dask logged "Connection from ... closed before handshake completed" every time (over
    TLS a WARNING), about 300 lines in 5 minutes of health checks."""
    services = roles.start("all", "all", MSPASS_CHECK_INTERVAL="1")
    state = services.wait_ready()
    log = roles.work / "logs" / f"scheduler-{state['node']}.log"
    time.sleep(3)  # the start's own lines written, the supervisor's checks running
    before = log_lines(log)
    checks = 10
    for _ in range(checks):
        health = subprocess.run([sys.executable, "-m", "mspass_roles", "health"], env=roles.env,
                                capture_output=True, text=True, timeout=60)
        assert health.returncode == 0, health.stdout + health.stderr
        assert "all worker: ok" in health.stdout, health.stdout
    time.sleep(2)  # the supervisor's own checks (every second) count too
    new = log_lines(log)[len(before):]
    assert not new, f"{len(new)} new lines in {log.name} after {checks} health checks:\n" + "\n".join(new[:20])
    assert not [line for line in before if HALF_OPEN in line], "\n".join(before)  # Jupyter waited for it


#: what dask's scheduler logs of a bare TCP connection (a port check)
HALF_OPEN = "closed before handshake completed"


def test_roles_waiting_for_the_scheduler_leave_no_lines_in_its_log(roles):
    """A worker and a notebook each waited for the scheduler by connecting to its port:
    a line each in its log at every start."""
    scheduler = roles.start("scheduler", "scheduler")
    state = scheduler.wait_ready()
    roles.start("db", "db").wait_ready()
    roles.start("worker", "worker", MSPASS_SCHEDULER_ADDRESS="127.0.0.1").wait_ready()
    roles.workflow(4)
    lines = log_lines(roles.work / "logs" / f"scheduler-{state['node']}.log")
    assert any("Register worker" in line for line in lines), "\n".join(lines)
    assert not [line for line in lines if HALF_OPEN in line], "\n".join(lines)
