"""The supervisor's start order, with small Python children instead of real services.

Each child listens on a port (its readiness) and may first wait for another child's port:
a plan whose services started one after another could never get ready.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from mspass_roles.plan import Plan, Service
from mspass_roles.probes import TcpProbe
from mspass_roles.supervisor import Options, Supervisor
from tests.support.processes import free_ports
from tests.support.settings import make

# waits until every port of WAIT answers, records that, then listens on PORT until stopped
CHILD = """
import socket, sys, time
port, record, *wait = sys.argv[1:]
for other in wait:
    while True:
        try:
            socket.create_connection(("127.0.0.1", int(other)), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
open(record, "w").write("started after " + " ".join(wait))
server = socket.create_server(("127.0.0.1", int(port)))
while True:
    server.accept()[0].close()
"""


def child(name: str, port: int, tmp: Path, *wait: int, **kw) -> Service:
    return Service(name=name, argv=[sys.executable, "-c", CHILD, str(port), str(tmp / f"{name}.started"),
                                    *map(str, wait)],
                   probe=TcpProbe("127.0.0.1", port), log=tmp / f"{name}.log", summary=name, **kw)


def run(plan: Plan, tmp: Path, **env) -> tuple[int, str]:
    settings = make(tmp, MSPASS_READY_TIMEOUT=30, **env)
    out = io.StringIO()
    code = Supervisor(plan, Options.for_role(settings, plan), out=out).run()
    return code, out.getvalue()


def test_independent_services_start_side_by_side_and_after_waits_for_readiness(tmp_path):
    a, b, c = free_ports(3)
    first_at_third_start: list = []
    done = Service(name="batch", argv=[sys.executable, "-c", "print('batch ran')"], main=True,
                   after=("first", "second", "third"))
    plan = Plan(role="test", services=[
        child("first", a, tmp_path, b),  # ready only once "second", listed after it, listens
        child("second", b, tmp_path),
        child("third", c, tmp_path, after=("first",),
              before_start=lambda: first_at_third_start.append(TcpProbe("127.0.0.1", a).check())),
        done,
    ])
    code, out = run(plan, tmp_path)
    assert code == 0, out
    assert (tmp_path / "first.started").read_text() == f"started after {b}"
    assert first_at_third_start == [None]  # "first" answered when "third" started
    lines = out.splitlines()
    stops = [line.split(": ")[1].split()[0] for line in lines if " stopped (" in line]
    assert stops == ["third", "second", "first"]  # the plan's reverse order, whatever the start order


def test_the_first_failure_ends_the_start_and_is_the_only_error_reported(tmp_path):
    a, b = free_ports(2)
    failing = Service(name="broken", argv=[sys.executable, "-c", "import sys; sys.exit(3)"],
                      probe=TcpProbe("127.0.0.1", b), log=tmp_path / "broken.log")
    plan = Plan(role="test", services=[child("waiter", a, tmp_path, b), failing])
    code, out = run(plan, tmp_path)
    assert code == 3, out
    errors = [line for line in out.splitlines() if "ERROR" in line]
    assert errors == ["mspass test: ERROR: broken exited unexpectedly with code 3"], out
    assert not (tmp_path / "waiter.started").exists()
    assert "waiter stopped" in out  # started, never ready, stopped all the same


def test_a_batch_run_that_ends_while_others_start_ends_the_role_with_its_code(tmp_path):
    """A main service that exits before the others are ready is a finished run, not a death
    (a quick script could exit before the supervisor looked: the role then failed with 1)."""
    a, never = free_ports(2)
    for argv, expected in (([sys.executable, "-c", "pass"], 0), ([sys.executable, "-c", "raise SystemExit(3)"], 3)):
        plan = Plan(role="test", services=[
            child("waiting", a, tmp_path, never),  # never ready: waits for a port nobody opens
            Service(name="batch", argv=argv, main=True),
        ])
        code, out = run(plan, tmp_path)
        assert code == expected, out
        assert "ERROR" not in out and f"batch {'finished' if expected == 0 else 'failed'} (exit code {expected}" in out


def test_setup_runs_once_the_process_started_and_may_wait_for_it_before_its_probe(tmp_path):
    """A replica set is initiated once mongod answers, before it can be primary: `setup`
    gets the supervisor's `wait`, bound by the service's ready deadline."""
    [a] = free_ports(1)
    order: list = []
    server = child("server", a, tmp_path, setup=lambda wait: order.append(("setup", wait(TcpProbe("127.0.0.1", a))))
                   or "initiated", on_ready=lambda: order.append("on_ready"))
    code, out = run(Plan(role="test", services=[server, Service(
        name="batch", argv=[sys.executable, "-c", "pass"], main=True, after=("server",))]), tmp_path)
    assert code == 0, out
    assert order == [("setup", None), "on_ready"] and "mspass test: initiated" in out


def test_a_failing_setup_or_on_ready_fails_the_role_with_the_reason(tmp_path):
    def broken(*_):
        raise RuntimeError("replica set rs0 has no primary")

    for hook in ("setup", "on_ready"):
        [a] = free_ports(1)
        plan = Plan(role="test", services=[child("server", a, tmp_path, **{hook: broken}),
                                           Service(name="batch", argv=[sys.executable, "-c", "pass"], main=True,
                                                   after=("server",))])
        code, out = run(plan, tmp_path)
        assert code == 1, out
        errors = [line for line in out.splitlines() if "ERROR" in line]
        assert errors == [f"mspass test: ERROR: server: {hook} failed: replica set rs0 has no primary"], out
        assert "batch finished" not in out and "server stopped" in out


def test_an_exit_code_with_a_meaning_is_explained_after_the_log_tail(tmp_path):
    [a] = free_ports(1)
    dying = Service(name="db", argv=[sys.executable, "-c", "print('Wrong mongod version'); raise SystemExit(62)"],
                    probe=TcpProbe("127.0.0.1", a), log=tmp_path / "db.log",
                    explain_exit=lambda code: "data of an older release" if code == 62 else None)
    code, out = run(Plan(role="test", services=[dying]), tmp_path)
    assert code == 62, out
    lines = out.splitlines()
    assert lines[-2:] == ["  | Wrong mongod version", "mspass test: db: data of an older release"], out


def test_a_before_start_that_raises_fails_the_role_and_it_is_never_ready(tmp_path):
    """The tmp restore hitting ENOSPC in a small /tmp raised in before_start, killed the start
    thread, and the role said `ready: db` with no server running (issue 23)."""
    [a] = free_ports(1)

    def no_room() -> None:
        raise OSError(28, "No space left on device")

    plan = Plan(role="test", services=[child("db", a, tmp_path, before_start=no_room), child("other", *free_ports(1),
                                                                                              tmp_path)])
    code, out = run(plan, tmp_path)
    assert code == 1, out
    assert [line for line in out.splitlines() if "ERROR" in line] == [
        "mspass test: ERROR: db cannot start: [Errno 28] No space left on device"], out
    assert "ready: " not in out and "db ready" not in out
    assert not (tmp_path / "db.started").exists()


def test_a_failing_periodic_task_fails_health_until_it_succeeds_again(tmp_path):
    """A tmp database's copy failing on a full disk went unseen (the probe writes to /tmp):
    the failure must be said at ERROR and recorded in the state file that health reads."""
    from mspass_roles import state

    [a] = free_ports(1)
    outcomes = iter([OSError(28, "No space left on device"), OSError(28, "No space left on device"), "copied"])
    seen: list = []

    def copy() -> str | None:
        outcome = next(outcomes, "copied")
        data = state.read(state_file)
        seen.append(data["services"][0]["task_error"] if data else "?")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    plan = Plan(role="test", services=[child("db", a, tmp_path, periodic=copy, period=1.0)])
    settings = make(tmp_path, MSPASS_READY_TIMEOUT=30, MSPASS_CHECK_INTERVAL=0)
    options = Options.for_role(settings, plan)
    state_file = options.state_file
    supervisor = Supervisor(plan, options, out=io.StringIO())
    import threading

    def stop_after_recovery() -> None:
        while len(seen) < 4:
            threading.Event().wait(0.1)
        supervisor._on_signal(15, None)

    threading.Thread(target=stop_after_recovery, daemon=True).start()
    assert supervisor.run() == 0
    out = supervisor.out.getvalue()
    # what each copy found in the state file: nothing wrong, the failure (twice), then cleared
    assert seen[:4] == [None, "[Errno 28] No space left on device", "[Errno 28] No space left on device", None], out
    assert out.count("ERROR: db: [Errno 28] No space left on device") == 2, out
    assert "db: its periodic task succeeds again" in out and "mspass test: copied" in out


def test_a_stop_whose_after_stop_fails_exits_1(tmp_path):
    """A tmp database that could not be copied back on stop is not a clean stop."""
    [a] = free_ports(1)

    def copy_back() -> None:
        raise RuntimeError("cannot copy the database to /home/db ([Errno 28] No space left on device)")

    plan = Plan(role="test", services=[child("db", a, tmp_path, after_stop=copy_back),
                                       Service(name="batch", argv=[sys.executable, "-c", "pass"], main=True,
                                               after=("db",))])
    code, out = run(plan, tmp_path)
    assert code == 1, out
    assert "ERROR: after stopping db: cannot copy the database to /home/db" in out


def test_a_service_asked_to_stop_its_own_way_gets_no_signal_unless_the_ask_says_it_did_not(tmp_path):
    """Service.stop (an HPC step: a SIGTERM to the role's own supervisor, as srun would
    SIGKILL its tasks) replaces stop_signal; when it says it did not ask, the signal goes."""
    import os
    import signal

    ports = free_ports(2)
    asked: list[str] = []

    def polite(name: str, did: bool):
        def stop() -> bool:
            asked.append(name)
            if did:  # as a role's supervisor would, on its own: its process ends
                pid = int((tmp_path / f"{name}.pid").read_text())
                os.kill(pid, signal.SIGINT)
            return did
        return stop

    services = []
    for name, port, did in (("asked", ports[0], True), ("signalled", ports[1], False)):
        service = child(name, port, tmp_path, stop=polite(name, did), stop_signal=signal.SIGTERM)
        service.argv[2] = f"import os; open({str(tmp_path / (name + '.pid'))!r}, 'w').write(str(os.getpid()))\n" \
                          + service.argv[2]
        services.append(service)
    plan = Plan(role="test", services=[*services, Service(name="batch", argv=[sys.executable, "-c", "pass"],
                                                          main=True, after=("asked", "signalled"))])
    code, out = run(plan, tmp_path)
    assert code == 0 and asked == ["signalled", "asked"], out  # the plan's last first
    # SIGINT from its own stop, SIGTERM from the supervisor: each ended by what it was sent
    assert "asked stopped (exit code 130" in out and "signalled stopped (exit code 143" in out, out
