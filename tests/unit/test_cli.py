"""Unit tests of mspass_roles/cli.py: only invocations that start no services.

In-process calls of main([...]) for what cannot start anything (help, version, config, bad
options); `python -m mspass_roles` subprocesses with a controlled env (and a timeout as a
safety net) for passthrough and invalid settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mspass_roles import __version__, cli
from mspass_roles.cli import main
from mspass_roles.settings import VARIABLE_NAMES

# ---------------------------------------------------------------------- helpers


def base_env(tmp_path: Path) -> dict[str, str]:
    """A controlled environment: only our bin dir (with a fake ferretdb) and the system's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "ferretdb"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LC_ALL": "C.UTF-8",
        "MSPASS_WORK_DIR": str(tmp_path / "work"),
        "MSPASS_RUN_DIR": str(tmp_path / "run"),
        "MSPASS_NODE_NAME": "node1",
    }


def run_cli(tmp_path: Path, *args: str, **env) -> subprocess.CompletedProcess:
    full_env = {**base_env(tmp_path), **{k: str(v) for k, v in env.items()}}
    return subprocess.run([sys.executable, "-m", "mspass_roles", *args], env=full_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """os.environ without any contract variable, plus controlled dirs (for in-process main())."""
    for name in VARIABLE_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MSPASS_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("MSPASS_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("MSPASS_NODE_NAME", "node1")
    monkeypatch.chdir(tmp_path)
    return monkeypatch


FRONTEND = {"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "dbhost:27018", "MSPASS_SCHEDULER_ADDRESS": "sched"}

# ---------------------------------------------------------------------- help and version


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_help(capsys, flag):
    assert main([flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mspass-role [ROLE] [--batch FILE [ARGS...]]")
    for name in VARIABLE_NAMES:
        assert name in out
    for role in ("all", "db", "scheduler", "worker", "frontend", "dbmanager", "shard"):
        assert f"\n  {role} " in out


@pytest.mark.parametrize("installed,shown", [("2.4.3", "mspasspy 2.4.3"), (None, "mspasspy (not installed)")])
def test_version_names_the_mspasspy_version(capsys, monkeypatch, installed, shown):
    monkeypatch.setattr("mspass_roles.cli.mspasspy_version", lambda: installed)
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"mspass-role {__version__}, {shown}\n"


def test_help_subprocess(tmp_path):
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0
    assert "MSPASS_WORKER_ARG" in result.stdout
    assert result.stderr == ""


# ---------------------------------------------------------------------- config


def test_config_in_process(clean_env, capsys, tmp_path):
    for key, value in FRONTEND.items():
        clean_env.setenv(key, value)
    clean_env.setenv("MSPASS_JUPYTER_TOKEN", "sekrit123")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == list(VARIABLE_NAMES)
    assert "MSPASS_ROLE=frontend" in lines
    assert "MSPASS_DB_ADDRESS=dbhost:27018" in lines
    assert "MSPASS_SCHEDULER_ADDRESS=sched:8786" in lines
    assert f"MSPASS_WORK_DIR={tmp_path / 'work'}" in lines
    assert "MSPASS_JUPYTER_TOKEN=<redacted>" in lines
    assert "sekrit123" not in out


def test_config_subprocess_role_all_with_ferretdb(tmp_path):
    result = run_cli(tmp_path, "config", MSPASS_DB_ENGINE="ferretdb", MSPASS_JUPYTER_PWD="hunter2pw")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "MSPASS_ROLE=all" in lines
    assert "MSPASS_DB_ENGINE=ferretdb" in lines
    assert "MSPASS_DB_ADDRESS=127.0.0.1:27017" in lines
    assert f"MSPASS_DB_DIR={tmp_path / 'work' / 'db'}" in lines
    assert "MSPASS_JUPYTER_PWD=<redacted>" in lines
    assert "hunter2pw" not in result.stdout + result.stderr
    assert not (tmp_path / "work").exists()  # config creates nothing


def test_config_invalid_settings(clean_env, capsys):
    clean_env.setenv("MSPASS_ROLE", "wokrer")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "nothing was started" in err
    assert "MSPASS_ROLE='wokrer'" in err and "did you mean 'worker'" in err


# ---------------------------------------------------------------------- passthrough


def test_passthrough_echo(tmp_path):
    result = run_cli(tmp_path, "echo", "hi", "there")
    assert result.returncode == 0
    assert result.stdout == "hi there\n"


def test_passthrough_true_and_false(tmp_path):
    assert run_cli(tmp_path, "true").returncode == 0
    assert run_cli(tmp_path, "false").returncode == 1


def test_passthrough_ignores_invalid_settings(tmp_path):
    # a program runs as given: settings are not even read
    result = run_cli(tmp_path, "echo", "ok", MSPASS_ROLE="wokrer", JUPYTER_PORT="abc")
    assert result.returncode == 0
    assert result.stdout == "ok\n"


def test_passthrough_missing_program(tmp_path):
    result = run_cli(tmp_path, "no-such-program-xyz", "arg")
    assert result.returncode == 127
    assert "no-such-program-xyz: command not found" in result.stderr
    assert "roles: all, db" in result.stderr


def test_passthrough_missing_program_in_process(capsys, tmp_path):
    assert main([str(tmp_path / "no-such-program-xyz")]) == 127
    assert "command not found" in capsys.readouterr().err


def test_misspelled_role_as_argument(tmp_path):
    result = run_cli(tmp_path, "wroker")
    assert result.returncode == 2
    assert "'wroker' is neither a role nor a program; did you mean 'worker'?" in result.stderr


def test_passthrough_text_file_without_shebang(tmp_path):
    script = tmp_path / "job"
    script.write_text("echo never\n")
    script.chmod(0o755)
    result = run_cli(tmp_path, str(script))
    assert result.returncode == 126
    assert result.stderr == (f"mspass-role: {script}: not a program (no #! line); run it with its interpreter, "
                             f"e.g. bash {script} or python {script}\n")
    assert result.stdout == ""


def test_passthrough_not_executable(tmp_path):
    script = tmp_path / "notexec.sh"
    script.write_text("#!/bin/sh\necho no\n")
    script.chmod(0o644)
    result = run_cli(tmp_path, str(script))
    assert result.returncode == 126
    assert result.stdout == ""


# ---------------------------------------------------------------------- invalid arguments: exit 2


@pytest.mark.parametrize("args,message", [
    (["--bogus"], "unknown option '--bogus'"),
    (["worker", "--bogus"], "unknown option '--bogus'"),
    (["frontend", "extra"], "unknown option 'extra'"),
    (["frontend", "--batch"], "--batch needs a FILE"),
])
def test_invalid_arguments(capsys, args, message):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "invalid arguments (nothing was started)" in captured.err
    assert message in captured.err
    assert captured.out == ""


def test_batch_missing_file(tmp_path):
    result = run_cli(tmp_path, "frontend", "--batch", "missing.ipynb", **FRONTEND)
    assert result.returncode == 2
    assert "cannot run (nothing was started)" in result.stderr
    assert "'missing.ipynb': no such file" in result.stderr


def test_batch_equals_form_wrong_suffix(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    result = run_cli(tmp_path, "frontend", "--batch=notes.txt", **FRONTEND)
    assert result.returncode == 2
    assert "not a notebook or script" in result.stderr


def test_batch_for_role_db(tmp_path):
    (tmp_path / "x.py").write_text("print('never')\n")
    result = run_cli(tmp_path, "db", "--batch", "x.py", MSPASS_DB_ENGINE="ferretdb")
    assert result.returncode == 2
    assert "--batch is for roles all and frontend; MSPASS_ROLE='db'" in result.stderr
    assert "never" not in result.stdout


def test_dbmanager_not_available(tmp_path):
    result = run_cli(tmp_path, "dbmanager", MSPASS_DB_ENGINE="ferretdb")
    assert result.returncode == 2
    assert "MSPASS_ROLE='dbmanager'" in result.stderr and "MSPASS_DB_ENGINE" in result.stderr


# ---------------------------------------------------------------------- invalid settings: exit 2


def test_invalid_role_env(tmp_path):
    result = run_cli(tmp_path, MSPASS_ROLE="wokrer")
    assert result.returncode == 2
    assert "invalid settings (nothing was started)" in result.stderr
    assert "MSPASS_ROLE='wokrer' is not a role; valid: all, db, dbmanager, shard, scheduler, worker, frontend" \
        in result.stderr
    assert "did you mean 'worker'?" in result.stderr
    assert not (tmp_path / "work").exists()


def test_invalid_settings_all_listed(tmp_path):
    result = run_cli(tmp_path, "frontend", JUPYTER_PORT="abc", MSPASS_DB_ENGINE="nosql",
                     MSPASS_WORKER_ARG="--name 'x", **FRONTEND)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(lines) == 3
    assert any("JUPYTER_PORT='abc'" in line and "1 to 65535" in line for line in lines)
    assert any("MSPASS_DB_ENGINE='nosql'" in line for line in lines)
    assert any("MSPASS_WORKER_ARG=" in line for line in lines)


def test_worker_without_scheduler_address(tmp_path):
    result = run_cli(tmp_path, "worker")
    assert result.returncode == 2
    assert "MSPASS_SCHEDULER_ADDRESS is required for role 'worker'" in result.stderr


def test_frontend_without_db_address(tmp_path):
    result = run_cli(tmp_path, "frontend", MSPASS_SCHEDULER_ADDRESS="sched")
    assert result.returncode == 2
    assert "MSPASS_DB_ADDRESS is required for role 'frontend'" in result.stderr


def test_health_with_nothing_running(tmp_path):
    result = run_cli(tmp_path, "health", **FRONTEND)
    assert result.returncode == 1
    assert "unhealthy: no running frontend role on node1" in result.stdout


# ---------------------------------------------------------------------- every kind of refusal
# A case is (env, *texts the message holds); "@args" are command-line arguments and "@files"
# maps file names to the text they get in the cwd before the run.
CASES = {
    "role": ({"MSPASS_ROLE": "wroker"}, "MSPASS_ROLE='wroker' is not a role", "did you mean 'worker'"),
    "scheduler": ({"MSPASS_SCHEDULER": "dusk"}, "MSPASS_SCHEDULER='dusk' is not a scheduler", "dask, spark, none"),
    "port-text": ({"MONGODB_PORT": "mongo"}, "MONGODB_PORT='mongo' is not a port", "1 to 65535"),
    "port-range": ({"JUPYTER_PORT": "70000"}, "JUPYTER_PORT='70000' is not a port", "1 to 65535"),
    "port-clash": ({"JUPYTER_PORT": "27017"}, "JUPYTER_PORT=", "clashes with MONGODB_PORT"),
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
    "sync-interval": ({"MSPASS_DB_SYNC_INTERVAL": "often"}, "MSPASS_DB_SYNC_INTERVAL='often'", "0 (never)"),
    "timeout": ({"MSPASS_WAIT_TIMEOUT": "-1"}, "MSPASS_WAIT_TIMEOUT='-1'", "from 1 to 604800 seconds"),
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
    # settings that used to start services which then failed, or a role that never answered
    "bind-address-not-here": ({"MSPASS_BIND_ADDRESS": "203.0.113.7"},
                              "MSPASS_BIND_ADDRESS='203.0.113.7' is not an address of this machine",
                              "valid: an IP address or host name of this machine, e.g. 0.0.0.0"),
    "dashboard-address-not-here": ({"MSPASS_ROLE": "scheduler", "MSPASS_DASHBOARD_ADDRESS": "203.0.113.7"},
                                   "MSPASS_DASHBOARD_ADDRESS='203.0.113.7' is not an address of this machine",
                                   "127.0.0.1 (this node only)"),
    "db-dir-ferretdb-url": ({"MSPASS_ROLE": "db", "MSPASS_DB_ENGINE": "ferretdb", "MSPASS_DB_DIR": "/tmp/mspass#db"},
                            "MSPASS_DB_DIR='/tmp/mspass#db' contains '#', which FerretDB's SQLite URL",
                            "valid: a path without # ? % * [ \\ or control characters"),
    "wait-timeout-inf": ({"MSPASS_WAIT_TIMEOUT": "inf"}, "MSPASS_WAIT_TIMEOUT='inf' is not a duration here",
                         "from 1 to 604800 seconds"),
    "stop-timeout-nan": ({"MSPASS_STOP_TIMEOUT": "nan"}, "MSPASS_STOP_TIMEOUT='nan' is not a duration here",
                         "from 1 to 3600 seconds"),
    "secret-file-device": ({"MSPASS_JUPYTER_TOKEN_FILE": "/dev/zero"},
                           "MSPASS_JUPYTER_TOKEN_FILE='/dev/zero' is a character device, not a regular file"),
    "secret-file-too-big": ({"MSPASS_JUPYTER_PWD_FILE": "pwd", "@files": {"pwd": "p" * 70000}},
                            "MSPASS_JUPYTER_PWD_FILE='pwd' is 70,000 bytes; a secret file holds at most 64 KiB"),
    "worker-arg-scheduler-file": ({"MSPASS_WORKER_ARG": "--scheduler-file /no-such-dir/s.json"},
                                  "--scheduler-file '/no-such-dir/s.json': its directory '/no-such-dir' does not "
                                  "exist", "valid: a path in an existing directory"),
    "worker-arg-local-directory": ({"MSPASS_WORKER_ARG": "--local-directory /etc/hostname/dask"},
                                   "--local-directory '/etc/hostname/dask' cannot be made", "writable directory"),
    "worker-arg-interface": ({"MSPASS_WORKER_ARG": "--interface no-such-if0"},
                             "--interface 'no-such-if0' is not a network interface of this machine", "valid: lo"),
    "worker-arg-preload": ({"MSPASS_WORKER_ARG": "--preload /no-such-dir/setup.py"},
                           "--preload '/no-such-dir/setup.py' is not a file", "a module name or a URL"),
    "dask-tls-not-pem": ({"MSPASS_ROLE": "scheduler", "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": "ca.pem",
                          "DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__CERT": "ca.pem",
                          "DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__KEY": "key.pem",
                          "@files": {"ca.pem": "hello\n", "key.pem": "-----BEGIN CERTIFICATE-----\n"}},
                         "DASK_DISTRIBUTED__COMM__TLS__CA_FILE='ca.pem' is not a PEM certificate",
                         "DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__KEY='key.pem' is not a PEM private key "
                         "(no -----BEGIN PRIVATE KEY----- line)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_setting_exits_2_naming_it_and_starts_nothing(clean_env, tmp_path, capsys, case):
    settings, *expected = CASES[case]
    for name, value in settings.items():
        if not name.startswith("@"):
            clean_env.setenv(name, value)
    for name, text in settings.get("@files", {}).items():
        (tmp_path / name).write_text(text)
    fake_bin = tmp_path / "bin"  # a database server to find, wherever the tests run
    fake_bin.mkdir()
    (fake_bin / "ferretdb").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "ferretdb").chmod(0o755)
    clean_env.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")

    def started(*_args, **_kw):
        pytest.fail(f"{case}: services were about to start", pytrace=False)

    clean_env.setattr(cli, "Supervisor", started)
    assert main(settings.get("@args", "").split()) == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err
    assert "nothing was started" in err
    assert not (tmp_path / "work").exists() and not (tmp_path / "run").exists()


def test_credentials_are_made_once_into_the_work_dir(tmp_path):
    """`mspass-role credentials`: dask's CA and certificate for role containers (Compose with a
    login), private, made once; the settings are not read (they may name these very files)."""
    tls = tmp_path / "work" / ".mspass" / "tls"
    env = {"MSPASS_WORK_DIR": str(tmp_path / "work"), "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(tls / "ca.pem")}
    (tmp_path / "work").mkdir()
    first = run_cli(tmp_path, "credentials", **env)
    assert first.returncode == 0 and "made dask's CA and certificate" in first.stdout, first.stderr
    assert sorted(p.name for p in tls.iterdir()) == ["ca.pem", "tls.key", "tls.pem"]  # no CA key left
    assert {p.stat().st_mode & 0o777 for p in tls.iterdir()} == {0o600} and tls.stat().st_mode & 0o777 == 0o700
    before = (tls / "tls.pem").read_bytes()
    again = run_cli(tmp_path, "credentials", **env)
    assert again.returncode == 0 and "nothing changed" in again.stdout and (tls / "tls.pem").read_bytes() == before
    (tls / "tls.key").unlink()
    broken = run_cli(tmp_path, "credentials", **env)
    assert broken.returncode == 2 and "remove it and run again" in broken.stderr
