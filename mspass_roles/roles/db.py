"""Role `db`: one database server, MongoDB's mongod or FerretDB (SQLite backend)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..plan import Service
from ..probes import MongoPingProbe
from ..settings import Settings


def data_dir(s: Settings) -> Path:
    """Where the server keeps its files: MSPASS_DB_DIR, or node-local /tmp for MSPASS_DB_PATH=tmp."""
    if s.db_path == "tmp":
        return Path(tempfile.gettempdir()) / f"mspass-db-{s.node_name}-{s.mongodb_port}"
    return s.db_dir


def server_argv(s: Settings, path: Path) -> list[str]:
    if s.db_engine == "mongodb":
        bind = ["--bind_ip_all"] if s.binds_all else ["--bind_ip", s.bind_address]
        if ":" in s.bind_address:  # mongod listens on IPv6 only when asked
            bind.append("--ipv6")
        return ["mongod", "--dbpath", str(path), "--port", str(s.mongodb_port), *bind]
    return [
        "ferretdb",
        "--handler=sqlite",
        f"--sqlite-url=file:{path}/",
        f"--state-dir={path}",
        f"--listen-addr={s.bind_hostport(s.mongodb_port)}",
        "--telemetry=disable",  # no route to its reporting service here, nor on HPC nodes
        "--debug-addr=-",  # its debug HTTP port would clash between servers on one node
        "--log-format=text",
    ]


def _copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)


def _replace_tree(src: Path, dst: Path) -> None:
    """Make dst an exact copy of src (files the server deleted stay deleted).

    Copy beside dst first, then swap: a failed copy leaves the old dst intact.
    """
    fresh = dst.with_name(dst.name + ".incoming")
    old = dst.with_name(dst.name + ".previous")
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(src, fresh)
    if dst.exists():
        shutil.rmtree(old, ignore_errors=True)
        dst.rename(old)
    fresh.rename(dst)
    shutil.rmtree(old, ignore_errors=True)


def services(s: Settings) -> list[Service]:
    path = data_dir(s)
    in_tmp = s.db_path == "tmp"

    def before() -> None:
        if in_tmp:  # start from what an earlier run copied back
            shutil.rmtree(path, ignore_errors=True)
            _copy_tree(s.db_dir, path)
        path.mkdir(parents=True, exist_ok=True)

    def copy_back() -> None:  # runs only after the server has stopped
        _replace_tree(path, s.db_dir)
        shutil.rmtree(path, ignore_errors=True)

    def ready() -> None:
        if s.db_ready_file:
            s.db_ready_file.parent.mkdir(parents=True, exist_ok=True)
            s.db_ready_file.touch()

    engine = "mongod" if s.db_engine == "mongodb" else "ferretdb"
    return [Service(
        name="db",
        argv=server_argv(s, path),
        probe=MongoPingProbe(f"mongodb://{s.local_hostport(s.mongodb_port)}/"),
        log=s.log_dir / f"db-{s.node_name}.log",
        stop_timeout=s.stop_timeout,  # a clean shutdown flushes the journal
        summary=f"{engine} on {s.bind_hostport(s.mongodb_port)}, data in {path}",
        before_start=before,
        on_ready=ready,
        after_stop=copy_back if in_tmp else None,
    )]
