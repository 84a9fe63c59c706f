"""Administration of sharded MongoDB, through pymongo commands (no mongosh JavaScript).

What to do is decided by pure functions from what the servers report (`replica_set_steps`,
`restore_shard_hosts`, `cluster_steps`), so it is unit-tested without a server, and every
step is idempotent: asked again of a cluster already in shape they plan nothing.
`apply` runs the steps, saving first a copy of whatever a step changes.

Restore (the same data started by a new job on other nodes): replica sets and shards are
matched by id (replica-set name = shard id = MSPASS_SHARD_ID), never by list order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .files import write_private

#: MongoDB's error code for replSetGetConfig on a server whose replica set is not initiated
NOT_YET_INITIALIZED = 94
#: the config server's replica-set name, and its port: MONGODB_PORT + this (MsPASS's layout)
CONFIG_REPLICA_SET = "configserver"
CONFIG_PORT_OFFSET = 1


class AdminError(Exception):
    """The servers are not in a state these steps can bring to what the settings say."""


@dataclass(frozen=True)
class Shard:
    """One MSPASS_SHARD_LIST entry, ID/HOST:PORT; ID is the shard's replica-set name."""

    id: str
    host: str

    @classmethod
    def parse(cls, entry: str) -> "Shard":
        id_, _, host = entry.partition("/")
        return cls(id_, host)

    @property
    def connection(self) -> str:
        """How config.shards and addShard name it: ID/HOST:PORT."""
        return f"{self.id}/{self.host}"


@dataclass(frozen=True)
class Step:
    """One command: `body` is the command document, its first key the command's name."""

    body: dict[str, Any]
    #: what the log says it did
    why: str
    database: str = "admin"
    #: what the command changes, saved before it runs (restores)
    backup: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def command(self) -> str:
        return next(iter(self.body))


# ---------------------------------------------------------------- what to do (pure)
def replica_set_steps(name: str, host: str, config: dict | None, *, configsvr: bool = False) -> list[Step]:
    """Make `host` the single member of replica set `name`, whose current configuration
    (replSetGetConfig) is `config`, None when it is not initiated yet."""
    if config is None:
        body: dict[str, Any] = {"_id": name, "members": [{"_id": 0, "host": host}]}
        if configsvr:
            body["configsvr"] = True
        return [Step({"replSetInitiate": body}, f"initiated replica set {name} with member {host}")]
    if config.get("_id") != name:
        raise AdminError(f"the data directory holds replica set {config.get('_id')!r}, not {name!r}: "
                         "start it with the id it was made with (MSPASS_SHARD_ID)")
    members = config.get("members", [])
    if len(members) != 1:
        raise AdminError(f"replica set {name} has {len(members)} members; these roles run single-member sets")
    old = members[0]["host"]
    if old == host:
        return []
    # a member that cannot find itself in its configuration is no primary: only a forced
    # reconfiguration can change it (MongoDB's procedure for a restore on a new host)
    new = {k: v for k, v in config.items() if k != "term"}
    new["members"] = [{**members[0], "host": host}]
    new["version"] = int(config.get("version", 1)) + 1
    return [Step({"replSetReconfig": new, "force": True},
                 f"restore: replica set {name} moved from {old} to {host}", backup=config)]


def restore_shard_hosts(shards: Iterable[Shard], registered: Iterable[dict]) -> list[Step]:
    """On the config server, before mongos starts: each registered shard (config.shards)
    whose host differs from MSPASS_SHARD_LIST's entry with the same id gets that host."""
    wanted = {shard.id: shard for shard in shards}
    steps = []
    for doc in registered:
        shard = wanted.get(doc["_id"])
        if shard is not None and doc.get("host") != shard.connection:
            steps.append(Step(
                {"update": "shards", "updates": [{"q": {"_id": shard.id}, "u": {"$set": {"host": shard.connection}}}]},
                f"restore: shard {shard.id} moved from {doc.get('host')} to {shard.connection}",
                database="config", backup=doc))
    return steps


def shard_identity_steps(identity: dict | None, config_server: str) -> list[Step]:
    """On a shard's data, before it starts as a shard: the config server it records
    (admin.system.version's shardIdentity) becomes `config_server` (REPLSET/HOST:PORT) when
    that moved (MongoDB's restore procedure). Nothing for a shard never registered."""
    if identity is None or not config_server or identity.get("configsvrConnectionString") == config_server:
        return []
    return [Step({"update": "system.version", "updates": [{"q": {"_id": "shardIdentity"},
                                                          "u": {"$set": {"configsvrConnectionString": config_server}}}]},
                 f"restore: shard {identity.get('shardName')} now finds its config server at {config_server} "
                 f"(was {identity.get('configsvrConnectionString')})", backup=identity)]


def cluster_steps(shards: Iterable[Shard], registered: Iterable[dict], database: str,
                  collections: Iterable[tuple[str, str]], databases: Iterable[str],
                  sharded: Iterable[str]) -> list[Step]:
    """Through mongos: add the shards not registered yet (by id), enable sharding of
    `database` unless config.databases has it, shard each (collection, key) not yet sharded
    (`sharded`: namespaces in config.collections) on a hashed key."""
    known = {doc["_id"] for doc in registered}
    steps = [Step({"addShard": shard.connection, "name": shard.id}, f"added shard {shard.id} at {shard.host}")
             for shard in shards if shard.id not in known]
    if not database:
        return steps
    if database not in set(databases):
        steps.append(Step({"enableSharding": database}, f"enabled sharding of database {database}"))
    done = set(sharded)
    for collection, key in collections:
        namespace = f"{database}.{collection}"
        if namespace not in done:
            steps.append(Step({"shardCollection": namespace, "key": {key: "hashed"}},
                              f"sharded {namespace} on a hashed {key}"))
    return steps


def unlisted(shards: Iterable[Shard], registered: Iterable[dict]) -> list[str]:
    """Registered shards MSPASS_SHARD_LIST does not name (left as they are; said in the log)."""
    wanted = {shard.id for shard in shards}
    return [doc["_id"] for doc in registered if doc["_id"] not in wanted]


def parse_collections(entries: Iterable[str]) -> list[tuple[str, str]]:
    """MSPASS_SHARD_COLLECTIONS entries COLLECTION:KEY."""
    return [tuple(entry.split(":", 1)) for entry in entries]  # type: ignore[misc]


# ---------------------------------------------------------------- asking and doing
def current_config(client) -> dict | None:
    from pymongo.errors import OperationFailure

    try:
        return client.admin.command("replSetGetConfig")["config"]
    except OperationFailure as err:
        if err.code == NOT_YET_INITIALIZED:
            return None
        raise


def apply(client, steps: Iterable[Step], backup_dir: Path) -> list[str]:
    """Run the steps in order; a step's `backup` goes first to a JSON file in backup_dir
    (mode 0600). Returns what the log says, one line per step."""
    from bson import json_util

    said = []
    for step in steps:
        line = step.why
        if step.backup is not None:
            backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = backup_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{step.command}-{len(said)}.json"
            write_private(path, json_util.dumps(step.backup, indent=1) + "\n")
            line += f" (what it replaced is saved in {path})"
        client[step.database].command(step.body)  # a dict keeps its order: the command's name first
        said.append(line)
    return said
