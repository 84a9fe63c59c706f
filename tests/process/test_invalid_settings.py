"""Invalid settings end to end: a real `python -m mspass_roles` process exits 2, lists every
problem, and creates nothing. Each kind of invalid setting is checked once, in the unit tier
(tests/unit/test_cli.py), where it needs no process."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.process


def test_all_problems_are_reported_at_once(roles):
    env = {**roles.env, "MSPASS_ROLE": "wroker", "MONGODB_PORT": "x", "MSPASS_DB_PATH": "ram"}
    result = subprocess.run([sys.executable, "-m", "mspass_roles"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 3, result.stderr
    assert "nothing was started" in result.stderr
    for made in ("db", "logs", "work"):
        assert not (roles.work / made).exists(), f"nothing may be started or created, yet {made}/ was"
    assert not (roles.tmp / "run").exists()
