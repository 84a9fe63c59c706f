"""probes: a probe whose library never returns still answers, within its timeout plus a margin."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest

from mspass_roles import probes


@dataclass
class Frozen(probes.Probe):
    """Stands for a library call to a SIGSTOPped service: it never returns by itself."""

    kind: ClassVar[str] = "test-frozen"
    timeout: float = 0.2
    release: threading.Event = None

    def check(self):
        self.release.wait()
        return None

    def describe(self):
        return "a frozen service"


@dataclass
class Broken(probes.Probe):
    kind: ClassVar[str] = "test-broken"
    timeout: float = 0.2

    def check(self):
        raise RuntimeError("bug in a probe")

    def describe(self):
        return "a broken probe"


def test_a_probe_that_never_returns_is_no_answer(monkeypatch):
    monkeypatch.setattr(probes, "HARD_MARGIN", 0.3)
    release = threading.Event()
    start = time.monotonic()
    reason = probes.ask(Frozen(release=release))
    waited = time.monotonic() - start
    try:
        assert reason == "no answer within 0.5 s (a frozen service)"
        assert waited < 5  # bounded, not a timing claim: without ask() this never returns
        assert probes.stuck()
    finally:
        release.set()


def test_wait_until_reports_a_frozen_service_at_its_deadline(monkeypatch):
    monkeypatch.setattr(probes, "HARD_MARGIN", 0.1)
    release = threading.Event()
    try:
        reason = probes.wait_until(Frozen(release=release), time.monotonic() + 0.5)
        assert reason.startswith("timed out: no answer within")
    finally:
        release.set()


def test_a_probe_error_reaches_the_caller():
    with pytest.raises(RuntimeError, match="bug in a probe"):
        probes.ask(Broken())


def test_role_state_probe_counts_the_roles_whose_state_says_ready(tmp_path):
    probe = probes.RoleStateProbe(str(tmp_path), "worker", 2)
    assert probe.check() == "0 of 2 worker role(s) ready"
    (tmp_path / "worker-c2.json").write_text('{"ready": true}')
    (tmp_path / "worker-c3.json").write_text('{"ready": false}')
    (tmp_path / "db-c1.json").write_text('{"ready": true}')  # another role
    (tmp_path / ".worker-c3.json.77").write_text('{"ready": true}')  # a state being written
    assert probe.check() == "1 of 2 worker role(s) ready"
    (tmp_path / "worker-c3.json").write_text('{"ready": true}')
    assert probe.check() is None
    assert probes.Probe.from_dict(probe.to_dict()) == probe  # recorded in the launcher's state


def test_a_final_reason_ends_the_wait_at_once():
    @dataclass
    class Refusing(probes.Probe):
        kind: ClassVar[str] = "test-refusing"
        timeout: float = 0.2
        calls: int = 0

        def check(self):
            self.calls += 1
            return probes.Final("wrong password")

        def describe(self):
            return "a server that refuses the login"

    probe = Refusing()
    assert probes.wait_until(probe, time.monotonic() + 30) == "wrong password"
    assert probe.calls == 1


def test_a_login_probe_keeps_no_password_and_says_which_variables_it_needs(monkeypatch):
    monkeypatch.delenv("MONGO_INITDB_ROOT_USERNAME", raising=False)
    probe = probes.MongoPingProbe("mongodb://127.0.0.1:1/", auth=True)
    assert probe.to_dict() == {"kind": "mongo-ping", "uri": "mongodb://127.0.0.1:1/", "timeout": 10.0,
                               "write": False, "auth": True, "first_user": False}
    reason = probe.check()
    assert isinstance(reason, probes.Final) and "MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD" in reason


def test_dask_workers_probe_says_a_refused_connection_as_host_port_reason():
    """The probe opens one dask comm (no bare TCP connection, which left a line in the
    scheduler's log at every check): a refused connection is said as TcpProbe said it."""
    probe = probes.DaskWorkersProbe("tcp://127.0.0.1:8786", "w")
    refused = ConnectionRefusedError(111, "Connection refused")
    wrapped = OSError("in <TCPConnector>: ConnectionRefusedError: [Errno 111] Connection refused")
    wrapped.__cause__ = refused
    assert probe._connect_error(wrapped) == "127.0.0.1:8786: Connection refused"
    assert probe._connect_error(OSError("Comm closed")) == "Comm closed"
    v6 = probes.DaskWorkersProbe("tls://[::1]:8786", "w")
    assert v6._connect_error(refused) == "::1:8786: Connection refused"
