"""Role `all` as real processes: batch runs, attaching to running services, durability."""

from __future__ import annotations

import json
import re
import signal
import threading

import pytest

from mspass_roles.settings import mspasspy_version
from tests.support.prerequisites import require
from tests.support.paths import NOTEBOOKS
from tests.support.processes import mongo
from tests.support.workflow import check

pytestmark = pytest.mark.process


def test_mspass_workflow_notebook_in_the_all_in_one(roles):
    run = roles.start("all", "all", "--batch", str(NOTEBOOKS / "mspass_workflow.ipynb"), "-p", "n_data", "16")
    assert run.wait_exit(300) == 0, run.output()

    summary = json.loads((roles.work / "mspass_workflow-summary.json").read_text())
    check(summary, 16)  # samples after the dask round trip match, and the components page's code ran
    executed = json.loads((roles.work / "logs" / "mspass_workflow.executed.ipynb").read_text())
    assert executed["metadata"]["papermill"]["exception"] is None
    out = run.output()
    assert f"(mspasspy {mspasspy_version()})" in out
    # every service stopped with the run, the database last
    assert out.index("worker stopped") < out.index("scheduler stopped") < out.index("db stopped")
    # FerretDB (this tier's engine when mongod is absent) says once that Client()'s text index is a plain one
    db_log = next((roles.work / "logs").glob("db-*.log")).read_text()
    if "ferretdb" in db_log:
        assert db_log.count("Text index created as a regular index") == 1, db_log[-3000:]


def test_batch_notebook_maps_over_dask_and_round_trips_the_database(roles):
    run = roles.start("all", "all", "--batch", str(NOTEBOOKS / "roundtrip.ipynb"), "-p", "n_tasks", "30")
    assert run.wait_exit() == 0, run.output()

    summary = json.loads((roles.work / "roundtrip-summary.json").read_text())
    assert summary["documents"] == 30
    assert summary["total"] == sum(i * i for i in range(30))


def test_failing_notebook_exits_non_zero_and_keeps_the_executed_copy(roles):
    run = roles.start("all", "all", "--batch", str(NOTEBOOKS / "failing.ipynb"))
    assert run.wait_exit() not in (0, None)

    executed = (roles.work / "logs" / "failing.executed.ipynb").read_text()
    assert "deliberate failure 42" in executed
    assert "before the failure" in executed
    assert "never reached" not in json.dumps(json.loads(executed)["cells"][-1].get("outputs", []))
    assert "batch failed" in run.output()


def test_batch_script_gets_its_arguments_and_the_services(roles):
    run = roles.start("all", "all", "--batch", str(NOTEBOOKS / "roundtrip.py"), "12")
    assert run.wait_exit() == 0, run.output()
    assert "script ok: 12 documents, total 506" in run.output()


def test_batch_in_a_running_all_in_one_uses_its_services(roles):
    services = roles.start("all", "all")
    services.wait_ready()
    run = roles.start("exec-batch", "--batch", str(NOTEBOOKS / "roundtrip.ipynb"), "-p", "n_tasks", "10")
    assert run.wait_exit() == 0, run.output()

    assert "already run here" in run.output()
    assert "db ready" not in run.output()  # no second set of services
    assert json.loads((roles.work / "roundtrip-summary.json").read_text())["documents"] == 10
    assert services.proc.poll() is None, "the running services must survive the batch run"


def test_an_empty_work_dir_gets_the_getting_started_notebook_and_it_runs(roles):
    services = roles.start("all", "all")
    services.wait_ready()
    first = roles.work / "getting_started.ipynb"
    assert first.is_file() and "a first notebook for you: getting_started.ipynb" in services.output()
    run = roles.start("exec-batch", "--batch", str(first))
    assert run.wait_exit() == 0, run.output()
    executed = (roles.work / "logs" / "getting_started.executed.ipynb").read_text()
    found = re.search(r"stacked 8 traces; peak ([\d.]+) at ([\d.]+) s", executed)
    # the wavelet, aligned at 5 s on every trace, stands out of the noise in the stack
    assert found and float(found.group(1)) > 3 and 4.5 < float(found.group(2)) < 5.5, executed[-3000:]
    assert "dashboard" in executed.lower()  # the client shown links to the dashboard


@pytest.mark.parametrize("db_path", ["scratch", "tmp"])
def test_sigterm_loses_no_acknowledged_write(roles, db_path):
    first = roles.start("all-1", "all", MSPASS_DB_PATH=db_path)
    first.wait_ready()

    acked: list[int] = []
    stop = threading.Event()

    def writer():
        coll = mongo(roles.env)["durability"]["docs"]
        i = 0
        while not stop.is_set():
            try:
                coll.insert_one({"_id": i, "payload": "x" * 100})
            except Exception:  # the server went away: stop writing
                return
            acked.append(i)
            i += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    while len(acked) < 300 and thread.is_alive():
        thread.join(0.05)
    first.signal(signal.SIGTERM)
    assert first.wait_exit(90) == 0, first.output()
    stop.set()
    thread.join(30)
    assert "db stopped" in first.output()

    second = roles.start("all-2", "all", MSPASS_DB_PATH=db_path)
    second.wait_ready()
    found = {d["_id"] for d in mongo(roles.env)["durability"]["docs"].find({}, {"_id": 1})}
    missing = sorted(set(acked) - found)
    assert len(acked) >= 300
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"


def test_all_in_one_on_ipv6_loopback(roles):
    import socket

    with socket.socket(socket.AF_INET6) as s:
        try:
            s.bind(("::1", 0))
            ipv6 = True
        except OSError:
            ipv6 = False
    require(ipv6, "an IPv6 loopback (::1)")
    run = roles.start("all", "all", "--batch", str(NOTEBOOKS / "roundtrip.py"), "7", MSPASS_BIND_ADDRESS="::1")
    assert run.wait_exit() == 0, run.output()
    assert "script ok: 7 documents" in run.output() and "tcp://[::1]:" in run.output()


def test_interactive_all_in_one_states_every_service_and_stops_in_reverse(roles):
    """The state file is what launchers read: every service ready with its answer, the
    user's URLs (token included); SIGTERM stops them in reverse plan order, the db last."""
    services = roles.start("all", "all", MSPASS_JUPYTER_TOKEN="t0ken-for-the-state-file")
    state = services.wait_ready()
    assert [s["name"] for s in state["services"]] == ["db", "scheduler", "worker", "jupyter"]
    assert all(s["ready"] and s["answer"] == "ok" for s in state["services"]), state
    urls = {k: v for s in state["services"] for k, v in s.get("urls", {}).items()}
    assert urls["jupyter"] == f"http://127.0.0.1:{roles.env['JUPYTER_PORT']}/lab?token=t0ken-for-the-state-file"
    assert urls["dashboard"] == f"http://127.0.0.1:{roles.env['DASK_DASHBOARD_PORT']}/status"

    services.signal(signal.SIGTERM)
    assert services.wait_exit(90) == 0, services.output()
    out = services.output()
    stopped = [out.index(f"{name} stopped") for name in ("jupyter", "worker", "scheduler", "db")]
    assert stopped == sorted(stopped), out
