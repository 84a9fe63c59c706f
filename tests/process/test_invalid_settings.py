"""Every invalid setting: exit 2, a message naming the variable, nothing started.

A case is (env, *texts the message holds); "@args" are command-line arguments and
"@files" maps file names to the text they get in the work dir (the cwd) before the run.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.process

CASES = {
    "role": ({"MSPASS_ROLE": "wroker"}, "MSPASS_ROLE='wroker' is not a role", "did you mean 'worker'"),
    "scheduler": ({"MSPASS_SCHEDULER": "dusk"}, "MSPASS_SCHEDULER='dusk' is not a scheduler", "dask, spark, none"),
    "port-text": ({"MONGODB_PORT": "mongo"}, "MONGODB_PORT='mongo' is not a port", "1 to 65535"),
    "port-range": ({"JUPYTER_PORT": "70000"}, "JUPYTER_PORT='70000' is not a port", "1 to 65535"),
    "port-clash": ({"JUPYTER_PORT": "{MONGODB_PORT}"}, "JUPYTER_PORT=", "clashes with MONGODB_PORT"),
    "engine": ({"MSPASS_DB_ENGINE": "postgres"}, "MSPASS_DB_ENGINE='postgres' is not a database engine",
               "auto, mongodb, ferretdb"),
    "engine-cannot-shard": ({"MSPASS_ROLE": "shard", "MSPASS_DB_ENGINE": "ferretdb"}, "MSPASS_ROLE='shard'",
                            "can shard"),
    "address-port": ({"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "sched:99999"},
                     "MSPASS_SCHEDULER_ADDRESS='sched:99999'", "invalid port"),
    "address-scheme": ({"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "http://db", "MSPASS_SCHEDULER_ADDRESS": "s"},
                       "MSPASS_DB_ADDRESS='http://db'", "mongodb://HOST:PORT"),
    "address-missing": ({"MSPASS_ROLE": "worker"}, "MSPASS_SCHEDULER_ADDRESS is required", "role 'worker'"),
    "spark-worker-without-master": ({"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER": "spark"},
                                    "MSPASS_SCHEDULER_ADDRESS is required", "MSPASS_SCHEDULER=spark"),
    "spark-address-scheme": ({"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER": "spark", "MSPASS_SCHEDULER_ADDRESS": "tcp://m"},
                             "MSPASS_SCHEDULER_ADDRESS='tcp://m' has scheme 'tcp'", "spark://HOST:PORT"),
    "spark-memory": ({"MSPASS_SCHEDULER": "spark", "SPARK_WORKER_MEMORY": "lots"}, "SPARK_WORKER_MEMORY='lots'",
                     "4g"),
    "scheduler-none-worker": ({"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER": "none", "MSPASS_SCHEDULER_ADDRESS": "m"},
                              "MSPASS_SCHEDULER='none' is only valid for role 'frontend'", "dask, spark"),
    "worker-arg": ({"MSPASS_WORKER_ARG": "--name 'unbalanced"}, "MSPASS_WORKER_ARG=", "split"),
    "memory": ({"MSPASS_DASK_WORKER_MEMORY_LIMIT": "lots"}, "MSPASS_DASK_WORKER_MEMORY_LIMIT='lots'", "4GB"),
    "memory-bytes": ({"MSPASS_DASK_WORKER_MEMORY_LIMIT": "512"}, "MSPASS_DASK_WORKER_MEMORY_LIMIT='512'",
                     "at least 256MiB"),
    "worker-arg-memory": ({"MSPASS_WORKER_ARG": "--memory-limit lots"}, "--memory-limit in MSPASS_WORKER_ARG='lots'",
                          "4GB"),
    "node-name": ({"MSPASS_NODE_NAME": "x/../../tmp/escape"}, "MSPASS_NODE_NAME='x/../../tmp/escape' is not a name",
                  "letters, digits"),
    "bind-address": ({"MSPASS_BIND_ADDRESS": "999.999.999.999"}, "MSPASS_BIND_ADDRESS='999.999.999.999'",
                     "IP address"),
    "address-ipv6-bracket": ({"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "[::1", "MSPASS_SCHEDULER_ADDRESS": "s"},
                             "MSPASS_DB_ADDRESS='[::1' is not an address", "mongodb://HOST:PORT"),
    "db-path": ({"MSPASS_DB_PATH": "ram"}, "MSPASS_DB_PATH='ram'", "scratch, tmp"),
    "ready-file": ({"MSPASS_ROLE": "db", "MSPASS_DB_READY_FILE": "/etc/hostname/ready"},
                   "MSPASS_DB_READY_FILE='/etc/hostname/ready'", "is not a directory"),
    "sync-interval": ({"MSPASS_DB_SYNC_INTERVAL": "often"}, "MSPASS_DB_SYNC_INTERVAL='often'", "0 or a positive"),
    "timeout": ({"MSPASS_WAIT_TIMEOUT": "-1"}, "MSPASS_WAIT_TIMEOUT='-1'", "positive number"),
    "batch-role": ({"MSPASS_ROLE": "db", "@args": "--batch x.ipynb"}, "--batch", "frontend"),
    "batch-file": ({"@args": "--batch missing.ipynb"}, "--batch 'missing.ipynb'", "no such file"),
    "option": ({"@args": "--bach x.ipynb"}, "unknown option '--bach'", "--batch FILE"),
    # refused as `dask worker` reads its arguments, before the database and scheduler start
    "worker-arg-unknown-option": ({"MSPASS_WORKER_ARG": "--bogus 1"}, "MSPASS_WORKER_ARG='--bogus 1'",
                                  "dask worker says: No such option '--bogus'"),
    "worker-arg-semicolon": ({"MSPASS_WORKER_ARG": "--nthreads 2 ; id"}, "MSPASS_WORKER_ARG='--nthreads 2 ; id'",
                             "unexpected extra arguments: (; id)"),
    "worker-arg-command-substitution": ({"MSPASS_WORKER_ARG": "$(id)"}, "MSPASS_WORKER_ARG='$(id)'",
                                        "unexpected extra argument: ($(id))"),
    "worker-arg-nthreads": ({"MSPASS_WORKER_ARG": "--nthreads -5"},
                            "MSPASS_WORKER_ARG='--nthreads -5': --nthreads must be a positive integer"),
    "worker-arg-nworkers": ({"MSPASS_WORKER_ARG": "--nworkers 0"},
                            "MSPASS_WORKER_ARG='--nworkers 0': --nworkers must be a positive integer", "'auto'"),
    "batch-empty-notebook": ({"@args": "--batch empty.ipynb", "@files": {"empty.ipynb": ""}},
                             "--batch 'empty.ipynb'", "empty.ipynb is not a valid notebook",
                             "does not appear to be JSON"),
    "batch-bad-json-notebook": ({"@args": "--batch bad.ipynb", "@files": {"bad.ipynb": '{"cells": ['}},
                                "--batch 'bad.ipynb'", "bad.ipynb is not a valid notebook",
                                "does not appear to be JSON"),
    "batch-script-syntax": ({"@args": "--batch job.py", "@files": {"job.py": "x = 1\nif x\n    print(x)\n"}},
                            "--batch 'job.py'", "job.py:2: expected ':'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_setting_exits_2_naming_it(roles, case):
    settings, *expected = CASES[case]
    args = settings.get("@args", "").split()
    env = {**roles.env, **{k: v.format(**roles.env) for k, v in settings.items() if not k.startswith("@")}}
    for name, text in settings.get("@files", {}).items():
        (roles.work / name).write_text(text)

    result = subprocess.run([sys.executable, "-m", "mspass_roles", *args], env=env, capture_output=True,
                            text=True, timeout=60, cwd=roles.work)

    assert result.returncode == 2, result.stdout + result.stderr
    for text in expected:
        assert text in result.stderr
    assert "nothing was started" in result.stderr
    for made in ("db", "logs", "work"):
        assert not (roles.work / made).exists(), f"nothing may be started or created, yet {made}/ was"
    assert not (roles.tmp / "run").exists()


def test_all_problems_are_reported_at_once(roles):
    env = {**roles.env, "MSPASS_ROLE": "wroker", "MONGODB_PORT": "x", "MSPASS_DB_PATH": "ram"}
    result = subprocess.run([sys.executable, "-m", "mspass_roles"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 3, result.stderr
