"""Roles `dbmanager` and `shard`: sharded MongoDB, laid out as MsPASS lays it out.

shard      mongod --shardsvr, a single-member replica set named MSPASS_SHARD_ID (the same
           id on every start: launchers derive it from the node's index, never at random),
           its data in MSPASS_DB_DIR/shard-ID; ready when it is that set's primary.
dbmanager  the config server (replica set "configserver" on MONGODB_PORT+1, data in
           MSPASS_DB_DIR/config) and mongos on MONGODB_PORT. mongos starts once every shard
           of MSPASS_SHARD_LIST has a primary; then the shards are registered by id and
           the collections of MSPASS_SHARD_COLLECTIONS sharded; then MSPASS_DB_READY_FILE.

The same data started on other hosts (a new HPC job) is restored by id (mongo_admin): the
config server's record of each shard gets the shard's new host before the config server
starts as one (on a standalone mongod, as MongoDB's restore procedure does), and each
shard's replica set its new member host, and, given MSPASS_CONFIG_SERVER_ADDR, each shard
the config server's new address (also before it starts); what changes is logged and saved
first in MSPASS_DB_DIR/restores. Only mongod can shard:
settings refuse other engines (exit 2).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

from .. import mongo_admin
from ..mongo_admin import CONFIG_PORT_OFFSET, CONFIG_REPLICA_SET, AdminError, Shard
from ..plan import Service
from ..probes import MongoPingProbe, Probe, ReplicaSetPrimaryProbe, wait_until
from ..settings import Address, Settings
from .db import MONGOD_ENV, bind_options, db_log, is_fresh, stored_service, touch_ready_file

Wait = Callable[[Probe], "str | None"]


def services(s: Settings) -> list[Service]:
    return dbmanager(s) if s.role == "dbmanager" else shard(s)


def backups(s: Settings) -> Path:
    """Where a restore saves what it changes (beside the data, kept with MSPASS_DB_PATH=tmp too)."""
    return s.db_dir / "restores"


def connect(uri: str):
    import pymongo

    return pymongo.MongoClient(uri, directConnection=True, serverSelectionTimeoutMS=10000)


@contextlib.contextmanager
def standalone(s: Settings, path: Path, log: Path) -> Iterator[str]:
    """mongod on `path` as a standalone server on a loopback port of its own, for what
    MongoDB's maintenance and restore procedures change before a member starts as one (its
    sharding checks and session refresh off); stopped cleanly after. Its output goes to
    `log`, the service's."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"mongodb://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TZ")}
    with open(log, "ab") as out:
        proc = subprocess.Popen(["mongod", "--dbpath", str(path), "--port", str(port), "--bind_ip", "127.0.0.1",
                                 "--setParameter", "skipShardingConfigurationChecks=true",
                                 "--setParameter", "disableLogicalSessionCacheRefresh=true"],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env={**env, **MONGOD_ENV})
    try:
        reason = wait_until(MongoPingProbe(uri), time.monotonic() + s.ready_timeout,
                            abort=lambda: None if proc.poll() is None else f"it exited with code {proc.returncode}")
        if reason is not None:
            raise AdminError(f"mongod on {path}, started alone for the restore, did not answer: {reason} (see {log})")
        yield uri
    finally:
        proc.terminate()  # mongod's clean shutdown
        try:
            proc.wait(timeout=s.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def restore_alone(s: Settings, path: Path, name: str, plan: Callable[..., list]) -> str | None:
    """Existing data in `path` (of service `name`): the steps `plan(client)` finds, applied
    on a standalone mongod before the service starts as a cluster member (MongoDB's
    restore procedure). Nothing for new data."""
    if is_fresh(path):
        return None
    with standalone(s, path, db_log(s, name)) as uri, connect(uri) as client:
        return "; ".join(mongo_admin.apply(client, plan(client), backups(s))) or None


def replica_set(s: Settings, uri: str, name: str, host: str, wait: Wait, *, configsvr: bool = False) -> str:
    """Initiate replica set `name` on the mongod at `uri` with member `host`, or move it
    there (restore); then wait for it to be primary."""
    reason = wait(MongoPingProbe(uri))
    if reason is not None:
        raise AdminError(f"mongod at {uri} does not answer: {reason}")
    with connect(uri) as client:
        steps = mongo_admin.replica_set_steps(name, host, mongo_admin.current_config(client), configsvr=configsvr)
        said = mongo_admin.apply(client, steps, backups(s))
    reason = wait(ReplicaSetPrimaryProbe(uri, name))
    if reason is not None:
        raise AdminError(f"replica set {name} has no primary: {reason}")
    return "; ".join(said) or f"replica set {name} as before (member {host})"


def shard(s: Settings) -> list[Service]:
    port, name = s.mongodb_port, s.shard_id
    uri = f"mongodb://{s.local_hostport(port)}/"
    host = Address(s.announced_host, port).hostport

    def restore(path: Path) -> str | None:
        """With MSPASS_CONFIG_SERVER_ADDR: existing shard data that records another config
        server address is told the new one first (the config server moved: a new job)."""
        if not s.config_server_addr:
            return None
        return restore_alone(s, path, "shard", lambda client: mongo_admin.shard_identity_steps(
            client.admin["system.version"].find_one({"_id": "shardIdentity"}), s.config_server_addr))

    return [stored_service(
        s, "shard", s.db_dir / f"shard-{name}",
        lambda path: ["mongod", "--shardsvr", "--replSet", name, "--dbpath", str(path), "--port", str(port),
                      *bind_options(s)],
        uri=uri,
        probe=ReplicaSetPrimaryProbe(uri, name),
        env=MONGOD_ENV,
        summary=f"mongod shard {name} on {s.bind_hostport(port)} (member {host})",
        prepare=restore,
        setup=lambda wait: replica_set(s, uri, name, host, wait),
        on_ready=lambda: touch_ready_file(s),
    )]


def dbmanager(s: Settings) -> list[Service]:
    port, config_port = s.mongodb_port, s.mongodb_port + CONFIG_PORT_OFFSET
    config_uri = f"mongodb://{s.local_hostport(config_port)}/"
    config_host = Address(s.announced_host, config_port).hostport
    uri = f"mongodb://{s.local_hostport(port)}/"
    shards = [Shard.parse(entry) for entry in s.shard_list]
    collections = mongo_admin.parse_collections(s.shard_collections)

    def restore(path: Path) -> str | None:
        """Each registered shard gets its host of now, before the config server starts as
        one, so no part of the cluster ever looks for a shard where it was."""
        return restore_alone(s, path, "config", lambda client: mongo_admin.restore_shard_hosts(
            shards, list(client.config.shards.find())))

    def cluster_setup(wait: Wait) -> str:
        reason = wait(MongoPingProbe(uri))
        if reason is not None:
            raise AdminError(f"mongos at {uri} does not answer: {reason}")
        with connect(uri) as client:
            registered = client.admin.command("listShards")["shards"]
            databases = [d["_id"] for d in client.config.databases.find({}, {"_id": 1})]
            namespaces = [f"{s.shard_database}.{collection}" for collection, _ in collections]
            sharded = [c["_id"] for c in client.config.collections.find({"_id": {"$in": namespaces}}, {"_id": 1})]
            steps = mongo_admin.cluster_steps(shards, registered, s.shard_database, collections, databases, sharded)
            said = mongo_admin.apply(client, steps, backups(s))
        others = mongo_admin.unlisted(shards, registered)
        if others:
            said.append(f"registered shards not in MSPASS_SHARD_LIST, left as they are: {', '.join(others)}")
        return "; ".join(said) or f"{len(shards)} shard(s) registered as before"

    config = stored_service(
        s, "config", s.db_dir / "config",
        lambda path: ["mongod", "--configsvr", "--replSet", CONFIG_REPLICA_SET, "--dbpath", str(path),
                      "--port", str(config_port), *bind_options(s)],
        uri=config_uri,
        probe=ReplicaSetPrimaryProbe(config_uri, CONFIG_REPLICA_SET),
        env=MONGOD_ENV,
        summary=f"config server ({CONFIG_REPLICA_SET}) on {s.bind_hostport(config_port)}",
        prepare=restore,
        setup=lambda wait: replica_set(s, config_uri, CONFIG_REPLICA_SET, config_host, wait, configsvr=True),
    )
    mongos = Service(
        name="mongos",
        argv=["mongos", "--configdb", f"{CONFIG_REPLICA_SET}/{config_host}", "--port", str(port), *bind_options(s)],
        # mongos registers shards only once each has a primary
        needs=[ReplicaSetPrimaryProbe(f"mongodb://{shard.host}/", shard.id) for shard in shards],
        after=("config",),
        probe=MongoPingProbe(uri, write=True),
        env=MONGOD_ENV,
        log=db_log(s, "mongos"),
        stop_timeout=s.stop_timeout,
        summary=f"mongos on {s.bind_hostport(port)}, shards {', '.join(shard.id for shard in shards)}",
        setup=cluster_setup,
        on_ready=lambda: touch_ready_file(s),
    )
    return [config, mongos]
