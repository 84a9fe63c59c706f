"""Database logins (MONGO_INITDB_ROOT_USERNAME / _PASSWORD, the official mongo image's
variables): the server refuses anyone without the login, clients of the roles use it with no
change to the notebook, and the password shows in no command line, log or state file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pymongo
import pytest
from pymongo.errors import OperationFailure

from tests.support.paths import NOTEBOOKS


pytestmark = pytest.mark.process

USER = "mspass"
PASSWORD = "p@ss:w/rd with spaces"  # every character a URI must escape
# as it is, and as it stands in a URI (the frontend's MSPASS_DB_ADDRESS escapes it)
PASSWORD_FORMS = (PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD))


def login_env(tmp: Path) -> dict[str, str]:
    """The password in a file (MONGO_INITDB_ROOT_PASSWORD_FILE), as a secret should travel."""
    secret = tmp / "db-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    return {"MONGO_INITDB_ROOT_USERNAME": USER, "MONGO_INITDB_ROOT_PASSWORD_FILE": str(secret)}


def client(roles, **login) -> pymongo.MongoClient:
    return pymongo.MongoClient(f"mongodb://127.0.0.1:{roles.env['MONGODB_PORT']}/", serverSelectionTimeoutMS=10000,
                               **login)


def error_code(action) -> int | None:
    try:
        action()
    except OperationFailure as err:
        return err.code
    return None


def assert_password_nowhere(roles) -> None:
    """Not in any process's command line or environment (FerretDB's included: /proc keeps
    the environment it started with), any log, the roles' output or their run directory."""
    for proc in Path("/proc").glob("[0-9]*"):
        for name in ("cmdline", "environ"):
            try:
                text = (proc / name).read_bytes().decode(errors="replace")
            except OSError:
                continue
            assert not any(form in text for form in PASSWORD_FORMS), f"{proc}/{name}"
    files = [*roles.work.rglob("*.log"), *roles.tmp.glob("*.out"), *(roles.tmp / "run").rglob("*")]
    files = [path for path in files if path.is_file()]
    assert files
    for path in files:
        text = path.read_text(errors="replace")
        assert not any(form in text for form in PASSWORD_FORMS), path


def test_mspass_workflow_logs_in_and_others_are_refused(roles):
    login = login_env(roles.tmp)
    roles.start("db", "db", **login).wait_ready()
    roles.start("scheduler", "scheduler").wait_ready()
    roles.start("worker", "worker", MSPASS_SCHEDULER_ADDRESS="127.0.0.1").wait_ready()

    # nobody without the login reads or writes; a wrong password is refused
    anonymous = client(roles)
    assert anonymous.admin.command("ping")["ok"] == 1  # ping needs no login, as on MongoDB
    assert error_code(lambda: anonymous.mspass.wf_TimeSeries.insert_one({"x": 1})) == 13
    assert error_code(lambda: anonymous.list_database_names()) == 13
    wrong = client(roles, username=USER, password="wrong", authSource="admin")
    assert error_code(lambda: wrong.list_database_names()) == 18

    # the notebook is unchanged: mspasspy's Client() finds the login in what the frontend exports
    roles.workflow(12, **login)

    owner = client(roles, username=USER, password=PASSWORD, authSource="admin")
    assert "mspass_health" in owner.list_database_names()  # the db role's own probe logged in and wrote
    assert_password_nowhere(roles)


def test_restart_keeps_the_user_and_a_wrong_password_is_refused_at_once(roles):
    login = login_env(roles.tmp)
    db = roles.start("db", "db", **login)
    db.wait_ready()
    client(roles, username=USER, password=PASSWORD, authSource="admin").test.docs.insert_one({"kept": True})
    db.stop()

    again = roles.start("db-again", "db", **login)
    again.wait_ready()
    assert client(roles, username=USER, password=PASSWORD, authSource="admin").test.docs.count_documents({}) == 1
    again.stop()

    (roles.tmp / "db-password").write_text("not the password")
    wrong = roles.start("db-wrong", "db", **login)
    assert wrong.wait_exit(60) != 0  # a refused login is final: no waiting for MSPASS_READY_TIMEOUT
    assert "refused the login of MONGO_INITDB_ROOT_USERNAME='mspass'" in wrong.output(), wrong.output()


def test_existing_data_without_the_user_is_refused_and_kept(roles):
    db = roles.start("db", "db")
    db.wait_ready()
    client(roles).test.docs.insert_one({"before": "logins"})
    db.stop()

    with_login = roles.start("db-login", "db", **login_env(roles.tmp))
    assert with_login.wait_exit(60) != 0
    out = with_login.output()
    assert "a database made without that user" in out and PASSWORD not in out, out

    roles.start("db-again", "db").wait_ready()  # the data is as it was
    assert client(roles).test.docs.count_documents({"before": "logins"}) == 1


def test_health_check_logs_in_with_the_contract_variables(roles):
    login = login_env(roles.tmp)
    roles.start("db", "db", **login).wait_ready()

    def health(env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mspass_roles", "health"], capture_output=True, text=True,
                              env={**roles.env, "MSPASS_ROLE": "db", **env}, timeout=60)

    ok = health(login)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # the probe recorded in the state file holds no password: it reads the login when asked
    state = json.loads(next((roles.tmp / "run").glob("db-*.json")).read_text())
    assert state["services"][0]["probe"]["auth"] is True and PASSWORD not in json.dumps(state)
    without = health({})
    assert without.returncode != 0
    assert "MONGO_INITDB_ROOT_USERNAME" in without.stdout + without.stderr


def test_a_notebook_showing_the_database_shows_no_password(roles):
    """A cell ending in `db` showed Database(DBClient(host='mongodb://mspass:PASSWORD@...')):
    mspasspy's repr (patched, scripts/build/python/patches/mspasspy-*) hides the password,
    while the workers still get the whole address and log in."""
    run = roles.start("all", "all", "--batch", str(NOTEBOOKS / "show_database.ipynb"), **login_env(roles.tmp))
    assert run.wait_exit(300) == 0, run.output()

    executed = roles.work / "logs" / "show_database.executed.ipynb"
    summary = json.loads((roles.work / "show_database-summary.json").read_text())
    places = {"the batch run's output": run.output(), "the summary": json.dumps(summary)}
    places.update({str(path): path.read_text(errors="replace")
                   for path in (roles.work / "logs").rglob("*") if path.is_file()})
    assert str(executed) in places and any(name.endswith(".log") for name in places)
    for name, text in places.items():
        for form in PASSWORD_FORMS:
            assert form not in text, f"{form!r} in {name}"
    assert_password_nowhere(roles)
    # the cells did show the address, and db worked: here, and on a worker both ways
    assert f"'mongodb://{USER}:***@127.0.0.1:" in places[str(executed)]
    assert (summary["notebook"], summary["pickled_on_worker"], summary["plugin_on_worker"]) == (1, 1, 1), summary
    assert executed.stat().st_mode & 0o777 == 0o600
