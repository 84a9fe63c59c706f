"""MSPASS_SCHEDULER=spark as real local processes: master, workers, db and frontend."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.prerequisites import require
from tests.support.paths import NOTEBOOKS
from tests.support.wait import wait_until

pytestmark = pytest.mark.process

SPARK = {"MSPASS_SCHEDULER": "spark"}


@pytest.fixture(autouse=True)
def java():
    require(shutil.which("java"), "a Java runtime (17+) on PATH for Spark")


def test_spark_cluster_of_role_processes(roles):
    master_addr = f"127.0.0.1:{roles.env['SPARK_MASTER_PORT']}"
    db = roles.start("db", "db", MSPASS_NODE_NAME="db")
    master = roles.start("master", "scheduler", MSPASS_NODE_NAME="master", **SPARK)
    workers = [
        roles.start(name, "worker", MSPASS_NODE_NAME=name, MSPASS_SCHEDULER_ADDRESS=master_addr,
                    MSPASS_WORKER_DIR=str(roles.work / name), SPARK_WORKER_WEBUI_PORT=str(port), **SPARK)
        for name, port in (("worker1", roles.env["SPARK_WORKER_WEBUI_PORT"]), ("worker2", roles.spare_ports[0]))
    ]
    for proc in (db, master, *workers):
        proc.wait_ready()
    assert "Spark master spark://127.0.0.1:" in master.output()

    run = roles.start("frontend", "frontend", "--batch", str(NOTEBOOKS / "spark_roundtrip.ipynb"),
                      "-p", "n_tasks", "40", "-p", "expect_workers", "2",
                      MSPASS_DB_ADDRESS="127.0.0.1", MSPASS_SCHEDULER_ADDRESS=f"spark://{master_addr}", **SPARK)
    assert run.wait_exit(300) == 0, run.output()

    summary = json.loads((roles.work / "spark_roundtrip-summary.json").read_text())
    assert summary["documents"] == 40 and summary["total"] == sum(i * i for i in range(40))
    worker_dirs = sorted(w.split(":", 1)[1] for w in summary["workers"])
    assert worker_dirs == [str(roles.work / "worker1"), str(roles.work / "worker2")]


def test_all_in_one_with_spark(roles):
    run = roles.start("all", "all", "--batch", str(NOTEBOOKS / "spark_roundtrip.ipynb"), "-p", "n_tasks", "16",
                      **SPARK)
    assert run.wait_exit(300) == 0, run.output()
    out = run.output()
    assert "scheduler ready: Spark master" in out and "worker ready: Spark worker" in out
    assert json.loads((roles.work / "spark_roundtrip-summary.json").read_text())["documents"] == 16


def test_spark_worker_waits_for_its_master(roles):
    master_addr = f"127.0.0.1:{roles.env['SPARK_MASTER_PORT']}"
    worker = roles.start("worker", "worker", MSPASS_SCHEDULER_ADDRESS=master_addr, **SPARK)
    worker.wait_for("waiting up to 90 s for 127.0.0.1:")
    roles.start("master", "scheduler", **SPARK).wait_ready()
    worker.wait_ready()


def test_a_batch_run_attached_to_a_spark_all_in_one_leaves_jupyters_spark_config(roles):
    services = roles.start("all", "all", **SPARK)
    services.wait_ready(180)
    jupyter_conf = [p for p in (roles.tmp / "run").glob("spark-*") if p.is_dir()]
    assert len(jupyter_conf) == 1

    run = roles.start("batch", "--batch", str(NOTEBOOKS / "spark_roundtrip.ipynb"), "-p", "n_tasks", "8", **SPARK)
    assert run.wait_exit(300) == 0, run.output()
    assert "already run here" in run.output()
    assert (jupyter_conf[0] / "spark-defaults.conf").is_file()  # the running Jupyter's is untouched


def test_with_its_secret_the_cluster_runs_and_a_worker_without_it_cannot_register(roles):
    secret = {"MSPASS_SPARK_SECRET": "spark-secret-0123456789", **SPARK}
    master_addr = f"127.0.0.1:{roles.env['SPARK_MASTER_PORT']}"
    roles.start("db", "db").wait_ready()
    roles.start("master", "scheduler", **secret).wait_ready()
    roles.start("worker", "worker", MSPASS_SCHEDULER_ADDRESS=master_addr, **secret).wait_ready()
    outsider = roles.start("outsider", "worker", MSPASS_SCHEDULER_ADDRESS=master_addr, MSPASS_NODE_NAME="outsider",
                           MSPASS_WORKER_DIR=str(roles.work / "outsider"), SPARK_WORKER_WEBUI_PORT=str(roles.spare_ports[0]),
                           **SPARK)

    run = roles.start("frontend", "frontend", "--batch", str(NOTEBOOKS / "spark_roundtrip.ipynb"),
                      "-p", "n_tasks", "16", "-p", "expect_workers", "1",
                      MSPASS_DB_ADDRESS="127.0.0.1", MSPASS_SCHEDULER_ADDRESS=f"spark://{master_addr}", **secret)
    assert run.wait_exit(300) == 0, run.output()
    assert json.loads((roles.work / "spark_roundtrip-summary.json").read_text())["documents"] == 16
    logs = roles.work / "logs"
    assert "spark-secret-0123456789" not in " ".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
    assert any("SecurityManager: authentication enabled" in p.read_text(errors="replace")
               for p in logs.glob("scheduler-*.log"))
    # the worker without the secret: refused by the master's SASL handshake, never registered
    refused = "Expected SaslMessage, received something else"
    wait_until(lambda: refused in (logs / "worker-outsider.log").read_text(errors="replace"), 60,
               "the master refusing the outsider", details=outsider.output)
    assert outsider.proc.poll() is None and "worker ready" not in outsider.output()
