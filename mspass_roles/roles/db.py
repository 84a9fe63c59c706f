"""Role `db`: one database server, MongoDB's mongod or FerretDB (SQLite backend)."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from .. import dbcopy
from ..plan import Service
from ..probes import MongoPingProbe, Probe
from ..files import write_private
from ..logs import log_tail
from ..settings import Settings, login_options


def data_dir(s: Settings, persistent: Path | None = None, name: str = "db") -> Path:
    """Where a server keeps its files: `persistent` (MSPASS_DB_DIR by default), or
    node-local /tmp for MSPASS_DB_PATH=tmp (copied to `persistent`)."""
    if s.db_path == "tmp":
        return Path(tempfile.gettempdir()) / f"mspass-{name}-{s.node_name}-{s.mongodb_port}"
    return persistent or s.db_dir


def bind_options(s: Settings) -> list[str]:
    """mongod's and mongos's listening options for MSPASS_SERVICE_ADDRESS."""
    address = s.service_address
    if s.db_username and address not in ("127.0.0.1", "localhost") and not s.service_binds_all:
        address += ",127.0.0.1"  # the localhost exception, by which the first user is created
    bind = ["--bind_ip_all"] if s.service_binds_all else ["--bind_ip", address]
    if ":" in s.service_address:  # mongod listens on IPv6 only when asked
        bind.append("--ipv6")
    return bind


def server_argv(s: Settings, path: Path) -> list[str]:
    if s.db_engine == "mongodb":
        auth = ["--auth"] if s.db_username else []
        return ["mongod", "--dbpath", str(path), "--port", str(s.mongodb_port), *bind_options(s), *auth]
    return [
        "ferretdb",
        "--handler=sqlite",
        f"--sqlite-url=file:{path}/",
        f"--state-dir={path}",
        f"--listen-addr={s.service_hostport(s.mongodb_port)}",
        "--telemetry=disable",  # no route to its reporting service here, nor on HPC nodes
        "--debug-addr=-",  # its debug HTTP port would clash between servers on one node
        "--log-format=text",
        # FerretDB v1's SCRAM logins with users in admin.system.users, as MongoDB's: its only
        # mode that refuses commands without a login on the SQLite backend ("experimental" in v1)
        *(["--test-enable-new-auth"] if s.db_username else []),
    ]


#: MongoDB 8.0's allocator (TCMalloc) keeps per-CPU caches through rseq, which glibc
#: otherwise takes for itself (mongod then warns and runs slower); as the official image does
MONGOD_ENV = {"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}


#: mongod's exit code for data files it cannot open: written by an older release whose
#: feature compatibility version (FCV) this one no longer reads (MongoDB's "Exit Codes")
NEEDS_UPGRADE = 62
#: mongod's log entry for it ("Wrong mongod version"), whose message names the data's FCV
WRONG_VERSION_LOG_ID = 20573
#: MongoDB's major releases, in order: data upgrades through each one (MsPASS #477: 4.4)
MAJOR_RELEASES = ("4.4", "5.0", "6.0", "7.0", "8.0")


def upgrade_path(found: str | None, running: str) -> list[str]:
    """The releases data of FCV `found` must be opened with, in order, before mongod
    `running` (a major release) opens it: those between the two."""
    if running not in MAJOR_RELEASES:
        return []
    end = MAJOR_RELEASES.index(running)
    start = MAJOR_RELEASES.index(found) + 1 if found in MAJOR_RELEASES else max(0, end - 1)
    return list(MAJOR_RELEASES[start:end])


def data_version(log: Path) -> str | None:
    """The FCV mongod found in the data, from its log's last "Wrong mongod version" entry."""
    found = None
    for line in log_tail(log, 200):
        if f'"id":{WRONG_VERSION_LOG_ID},' in line.replace(" ", ""):
            match = re.search(r'version: \\?"(\d+\.\d+)\\?"', line)
            found = match.group(1) if match else found
    return found


def mongod_release() -> str | None:
    """This mongod's major release (8.0), from `mongod --version`."""
    try:
        out = subprocess.run(["mongod", "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"db version v(\d+\.\d+)", out)
    return match.group(1) if match else None


def explain_mongod_exit(code: int, log: Path, path: Path, running: str | None = None) -> str | None:
    """What mongod's exit 62 means, the data's version and the upgrade path (MsPASS #477:
    MsPASS's image upgraded MongoDB and its users' databases failed to start, silently)."""
    if code != NEEDS_UPGRADE:
        return None
    found, running = data_version(log), running or mongod_release() or "this release"
    steps = upgrade_path(found, running)
    of = f"feature compatibility version {found}" if found else "an older feature compatibility version"
    through = " then ".join(steps) if steps else "each major release in between"
    return (f"the data in {path} has {of}, which mongod {running} cannot open: MongoDB upgrades data one major "
            f"release at a time. Open it with MongoDB {through}, setting each one's featureCompatibilityVersion "
            "before the next (docs/image.md: \"Data from an older MongoDB\"); the data is untouched")


def setup_password_file(s: Settings) -> Path:
    """Where FerretDB reads the first user's password: a private file in the run directory,
    there from just before the server starts until it answers."""
    return s.run_dir / f"db-{s.node_name}.setup-password"


def server_env(s: Settings, fresh: bool) -> dict[str, str]:
    """FerretDB creates the user when it creates an empty database; the password through a
    file (patch 09), never argv or its environment, which stays readable in /proc for the
    server's life. On existing data the user must exist already (the probe says so if not)."""
    if s.db_engine == "mongodb":
        return MONGOD_ENV
    if not first_user_by_ferretdb(s, fresh):
        return {}
    return {"FERRETDB_SETUP_USERNAME": s.db_username, "FERRETDB_SETUP_PASSWORD_FILE": str(setup_password_file(s)),
            "FERRETDB_SETUP_DATABASE": "admin"}


def first_user_by_ferretdb(s: Settings, fresh: bool) -> bool:
    return s.db_engine != "mongodb" and bool(s.db_username) and fresh


def is_fresh(directory: Path) -> bool:
    """No database files yet (a missing or empty directory)."""
    try:
        return not any(directory.iterdir())
    except FileNotFoundError:
        return True


@contextlib.contextmanager
def fsync_lock(uri: str, login: dict[str, str]) -> Iterator[None]:
    """Hold mongod's writes while its files are copied (MongoDB's fsyncLock)."""
    import pymongo

    with pymongo.MongoClient(uri, directConnection=True, serverSelectionTimeoutMS=10000, **login) as client:
        client.admin.command("fsync", lock=True)
        try:
            yield
        finally:
            client.admin.command("fsyncUnlock")


def stored_service(s: Settings, name: str, persistent: Path, argv: Callable[[Path], list[str]], *,
                   uri: str, probe: Probe, summary: str, env: dict[str, str] | None = None,
                   setup: Callable | None = None, on_ready: Callable[[], str | None] | None = None,
                   prepare: Callable[[Path], str | None] | None = None) -> Service:
    """A database server (mongod, ferretdb) whose files are `persistent`, or, with
    MSPASS_DB_PATH=tmp, a node-local copy of them that is copied back periodically and on
    stop. `argv(path)` is its command for the data directory `path`; `prepare(path)` runs
    before it starts, once the files are in place."""
    path = data_dir(s, persistent, name)
    copier = None
    if s.db_path == "tmp":
        login = login_options(s.db_credentials)
        freeze = (lambda: fsync_lock(uri, login)) if s.db_engine == "mongodb" else None
        copier = dbcopy.Copier(path, persistent, freeze=freeze, node=s.node_name)

    def before() -> str | None:
        if copier is None:
            said = dbcopy.recover(path)  # a copy a crash left half-committed (MSPASS_DB_PATH=tmp before)
            # a new database's files are its owner's alone (a login guards the server, not the files)
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        else:
            said = copier.restore()  # the last complete copy, or a newer database a killed server left
        prepared = prepare(path) if prepare else None
        return "; ".join(filter(None, (said, prepared))) or None

    def periodic() -> str | None:
        try:
            report = copier.copy(running=True)
        except Exception as err:  # noqa: BLE001 - any failure: say what stands, keep trying
            raise RuntimeError(f"cannot copy the running database to {persistent} ({err}); it keeps its last "
                               f"complete copy{copied_at(copier.last_copy)}, and a crash now would lose what was "
                               "written since") from None
        return f"copied the running database to {persistent}: {report}" if report.copied else None

    def copy_back() -> str:  # runs only after the server has stopped
        try:
            report = copier.finish()
        except Exception as err:  # noqa: BLE001 - any failure: say where the data is
            raise RuntimeError(f"cannot copy the database to {persistent} ({err}); it stays in {path}, which the "
                               f"next start on node {s.node_name} keeps and copies, once {persistent} has room") \
                from None
        return f"copied the database to {persistent}: {report}"

    copies = ""
    if copier:
        every = f"every {s.db_sync_interval:g} s and " if s.db_sync_interval else ""
        copies = f", copied to {persistent} {every}on stop"
    log = db_log(s, name)
    return Service(
        name=name,
        argv=argv(path),
        probe=probe,
        env=env or {},
        log=log,
        stop_timeout=s.stop_timeout,  # a clean shutdown flushes the journal
        explain_exit=(lambda code: explain_mongod_exit(code, log, path)) if s.db_engine == "mongodb" else None,
        summary=f"{summary}, data in {path}{copies}",
        before_start=before,
        setup=setup,
        on_ready=on_ready,
        after_stop=copy_back if copier else None,
        periodic=periodic if copier and s.db_sync_interval else None,
        period=s.db_sync_interval,
    )


def copied_at(when: float | None) -> str:
    return f" (of {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when))})" if when else ""


def db_log(s: Settings, name: str) -> Path:
    """Service `name`'s log: that of every process run on its data."""
    return s.log_dir / f"{name}-{s.node_name}.log"


def touch_ready_file(s: Settings) -> None:
    if s.db_ready_file:
        s.db_ready_file.parent.mkdir(parents=True, exist_ok=True)
        s.db_ready_file.touch()


def services(s: Settings) -> list[Service]:
    uri = f"mongodb://{s.local_service_hostport(s.mongodb_port)}/"
    fresh = is_fresh(s.db_dir)  # with MSPASS_DB_PATH=tmp too: the persistent copy says
    setup = first_user_by_ferretdb(s, fresh)

    def ready() -> None:
        if setup:  # read at FerretDB's start: not kept where it is no longer needed
            setup_password_file(s).unlink(missing_ok=True)
        touch_ready_file(s)

    login = login_options(s.db_credentials)
    engine = "mongod" if s.db_engine == "mongodb" else "ferretdb"
    if s.db_username:
        engine += f" (login required: user {s.db_username!r})"
    return [stored_service(
        s, "db", s.db_dir, lambda path: server_argv(s, path),
        uri=uri,
        # a busy server may hold writes a while
        probe=MongoPingProbe(uri, write=True, auth=bool(login),
                             first_user=bool(login) and fresh and s.db_engine == "mongodb"),
        env=server_env(s, fresh),
        summary=f"{engine} on {s.service_hostport(s.mongodb_port)}",
        prepare=(lambda path: write_private(setup_password_file(s), s.db_password)) if setup else None,
        on_ready=ready,
    )]
