"""state: a state file is live while its supervisor holds its lock, whatever the PID says."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mspass_roles import state


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "run" / "all-n1.json"
    state.write(p, {"role": "all", "node": "n1", "pid": os.getpid()})  # a PID that is alive
    return p


def hold_in_child(path):
    """A process that holds the lock, as a running supervisor does."""
    code = ("import sys; from mspass_roles import state; "
            "assert state.hold(__import__('pathlib').Path(sys.argv[1])) is not None; print('held', flush=True); "
            "sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_file_left_by_a_crash_is_stale_even_when_its_pid_is_alive(path):
    state.lock_path(path).touch()  # its supervisor held this lock until it died
    assert state.held(path) is False
    assert state.read(path) is None


def test_a_file_whose_lock_is_held_is_live(path):
    child = hold_in_child(path)
    try:
        assert state.held(path) is True
        assert state.read(path)["node"] == "n1"
    finally:
        child.communicate("")
    assert state.read(path) is None  # the holder ended: the lock went with it


def test_a_second_supervisor_cannot_take_a_held_lock(path, monkeypatch):
    monkeypatch.setattr(state, "LOCK_WAIT", 0.2)
    child = hold_in_child(path)
    try:
        assert state.hold(path) is None
    finally:
        child.communicate("")
    assert state.hold(path) is not None


def test_without_a_lock_file_the_pid_decides(path):
    assert state.held(path) is None  # written by a version before locks
    assert state.read(path)["pid"] == os.getpid()
    path.write_text(json.dumps({"role": "all", "node": "n1", "pid": 2**22 + 12345}))  # no such process
    assert state.read(path) is None
