"""db + scheduler + 2 workers + frontend as separate role processes on one machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.prerequisites import http_status

from tests.support.paths import NOTEBOOKS
from tests.support.workflow import check

pytestmark = pytest.mark.process


def start_services(roles, workers=("worker1", "worker2")):
    db = roles.start("db", "db", MSPASS_NODE_NAME="db")
    scheduler = roles.start("scheduler", "scheduler", MSPASS_NODE_NAME="scheduler")
    started = [roles.start(name, "worker", MSPASS_NODE_NAME=name, MSPASS_SCHEDULER_ADDRESS="127.0.0.1")
               for name in workers]
    for proc in (db, scheduler, *started):
        proc.wait_ready()
    return db, scheduler, started


def frontend_env(roles):
    # a full URI for one address and a bare host for the other: both forms must work
    port = roles.env["DASK_SCHEDULER_PORT"]
    return {"MSPASS_DB_ADDRESS": "127.0.0.1", "MSPASS_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{port}"}


def test_mspass_workflow_on_separate_roles_uses_both_workers(roles):
    start_services(roles)
    run = roles.start("frontend", "frontend", "--batch", str(NOTEBOOKS / "mspass_workflow.ipynb"),
                      "-p", "n_data", "24", "-p", "expect_workers", "2", "-p", "seconds_per_datum", "0.2",
                      **frontend_env(roles))
    assert run.wait_exit(300) == 0, run.output()

    summary = json.loads((roles.work / "mspass_workflow-summary.json").read_text())
    assert summary["workers"] == ["worker1", "worker2"]  # both took part in the map
    check(summary, 24)
    # each role wrote its own log, named after its node
    logs = {p.name for p in (roles.work / "logs").glob("*.log")}
    assert {"db-db.log", "scheduler-scheduler.log", "worker-worker1.log", "worker-worker2.log"} <= logs


def test_interactive_frontend_requires_its_token_and_keeps_it_off_argv(roles):
    token = "test-token-0123456789"
    start_services(roles, workers=("worker1",))
    frontend = roles.start("frontend", "frontend", MSPASS_JUPYTER_TOKEN=token, **frontend_env(roles))
    frontend.wait_ready()
    url = f"http://127.0.0.1:{roles.env['JUPYTER_PORT']}"

    assert f"/lab?token={token}" in frontend.output()  # the URL is printed once ready
    # and is in the state file, which only its owner can read; `health --json` prints it
    state_file = next((roles.tmp / "run").glob("frontend-*.json"))
    assert state_file.stat().st_mode & 0o777 == 0o600
    health = subprocess.run([sys.executable, "-m", "mspass_roles", "health", "--json"], capture_output=True,
                            text=True, env={**roles.env, **frontend_env(roles), "MSPASS_ROLE": "frontend"})
    found = json.loads(health.stdout)
    assert health.returncode == 0 and found["healthy"] is True, health.stdout + health.stderr
    [jupyter] = found["roles"][0]["services"]
    assert jupyter["urls"] == {"jupyter": f"{url}/lab?token={token}"} and jupyter["health"] == "ok"
    assert http_status(f"{url}/api/status", token) == 200
    assert http_status(f"{url}/api/status") == 403
    assert http_status(f"{url}/api/status", "wrong") == 403
    # no process's command line carries the token
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert token not in cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue


def test_password_login_uses_a_hashed_password(roles):
    roles.start("db", "db").wait_ready()
    frontend = roles.start("frontend", "frontend", MSPASS_JUPYTER_PWD="correct horse", MSPASS_SCHEDULER="none",
                           MSPASS_DB_ADDRESS="127.0.0.1")
    frontend.wait_ready()
    url = f"http://127.0.0.1:{roles.env['JUPYTER_PORT']}"
    assert http_status(f"{url}/api/status") == 403
    config = next((roles.tmp / "run").glob("jupyter-*/jupyter_server_config.json"))
    text = config.read_text()
    assert "correct horse" not in text and "argon2" in text
    assert config.stat().st_mode & 0o777 == 0o600


def test_batch_in_a_running_frontend_uses_its_services(roles):
    """`docker compose exec frontend mspass-role --batch FILE`: the file runs against the
    cluster the Jupyter frontend uses, and Jupyter keeps running."""
    start_services(roles, workers=("worker1",))
    frontend = roles.start("frontend", "frontend", **frontend_env(roles))
    frontend.wait_ready()
    run = roles.start("exec-batch", "--batch", str(NOTEBOOKS / "roundtrip.ipynb"), "-p", "n_tasks", "6",
                      MSPASS_ROLE="frontend", **frontend_env(roles))
    assert run.wait_exit() == 0, run.output()
    assert "mspass frontend: services already run here" in run.output()
    assert json.loads((roles.work / "roundtrip-summary.json").read_text())["documents"] == 6
    assert frontend.proc.poll() is None, "Jupyter must survive the batch run"
