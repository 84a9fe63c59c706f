"""Role `db`: one database server, MongoDB's mongod or FerretDB (SQLite backend)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .. import dbcopy
from ..plan import Service
from ..probes import MongoPingProbe
from ..settings import Settings, login_options


def data_dir(s: Settings) -> Path:
    """Where the server keeps its files: MSPASS_DB_DIR, or node-local /tmp for MSPASS_DB_PATH=tmp."""
    if s.db_path == "tmp":
        return Path(tempfile.gettempdir()) / f"mspass-db-{s.node_name}-{s.mongodb_port}"
    return s.db_dir


def server_argv(s: Settings, path: Path) -> list[str]:
    if s.db_engine == "mongodb":
        address = s.bind_address
        if s.db_username and address not in ("127.0.0.1", "localhost") and not s.binds_all:
            address += ",127.0.0.1"  # the localhost exception, by which the first user is created
        bind = ["--bind_ip_all"] if s.binds_all else ["--bind_ip", address]
        if ":" in s.bind_address:  # mongod listens on IPv6 only when asked
            bind.append("--ipv6")
        auth = ["--auth"] if s.db_username else []
        return ["mongod", "--dbpath", str(path), "--port", str(s.mongodb_port), *bind, *auth]
    return [
        "ferretdb",
        "--handler=sqlite",
        f"--sqlite-url=file:{path}/",
        f"--state-dir={path}",
        f"--listen-addr={s.bind_hostport(s.mongodb_port)}",
        "--telemetry=disable",  # no route to its reporting service here, nor on HPC nodes
        "--debug-addr=-",  # its debug HTTP port would clash between servers on one node
        "--log-format=text",
        # FerretDB v1's SCRAM logins with users in admin.system.users, as MongoDB's: its only
        # mode that refuses commands without a login on the SQLite backend ("experimental" in v1)
        *(["--test-enable-new-auth"] if s.db_username else []),
    ]


def server_env(s: Settings, fresh: bool) -> dict[str, str]:
    """FerretDB creates the user when it creates an empty database; through its environment,
    never argv. On existing data the user must exist already (the probe says so if not)."""
    if s.db_engine != "ferretdb" or not (s.db_username and fresh):
        return {}
    return {"FERRETDB_SETUP_USERNAME": s.db_username, "FERRETDB_SETUP_PASSWORD": s.db_password,
            "FERRETDB_SETUP_DATABASE": "admin"}


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


def services(s: Settings) -> list[Service]:
    path = data_dir(s)
    uri = f"mongodb://{s.local_hostport(s.mongodb_port)}/"
    fresh = is_fresh(s.db_dir)  # with MSPASS_DB_PATH=tmp too: the persistent copy says
    login = login_options(s.db_credentials)
    copier = None
    if s.db_path == "tmp":
        copier = dbcopy.Copier(path, s.db_dir, freeze=(lambda: fsync_lock(uri, login)) if s.db_engine == "mongodb" else None)

    def before() -> str | None:
        if copier is None:
            # a new database's files are its owner's alone (a login guards the server, not the files)
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            return None
        return dbcopy.restore(s.db_dir, path)  # start from the last complete copy

    def periodic() -> str | None:
        report = copier.copy(running=True)
        return f"copied the running database to {s.db_dir}: {report}" if report.copied else None

    def copy_back() -> str:  # runs only after the server has stopped
        report = copier.copy(running=False)
        shutil.rmtree(path, ignore_errors=True)  # only once the copy is complete
        return f"copied the database to {s.db_dir}: {report}"

    def ready() -> None:
        if s.db_ready_file:
            s.db_ready_file.parent.mkdir(parents=True, exist_ok=True)
            s.db_ready_file.touch()

    copies = ""
    if copier:
        every = f"every {s.db_sync_interval:g} s and " if s.db_sync_interval else ""
        copies = f", copied to {s.db_dir} {every}on stop"
    engine = "mongod" if s.db_engine == "mongodb" else "ferretdb"
    if s.db_username:
        engine += f" (login required: user {s.db_username!r})"
    return [Service(
        name="db",
        argv=server_argv(s, path),
        # a busy server may hold writes a while
        probe=MongoPingProbe(uri, timeout=5.0, write=True, auth=bool(login),
                             first_user=bool(login) and fresh and s.db_engine == "mongodb"),
        env=server_env(s, fresh),
        log=s.log_dir / f"db-{s.node_name}.log",
        stop_timeout=s.stop_timeout,  # a clean shutdown flushes the journal
        summary=f"{engine} on {s.bind_hostport(s.mongodb_port)}, data in {path}{copies}",
        before_start=before,
        on_ready=ready,
        after_stop=copy_back if copier else None,
        periodic=periodic if copier and s.db_sync_interval else None,
        period=s.db_sync_interval,
    )]
