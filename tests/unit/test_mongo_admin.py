"""Unit tests of mspass_roles/mongo_admin.py: which commands, in which order, from what
the servers report; nothing planned on repeat; restores by id, never by list order."""

from __future__ import annotations

import json
import stat

import pytest

from mspass_roles.mongo_admin import (AdminError, Shard, Step, apply, cluster_steps, parse_collections,
                                      replica_set_steps, restore_shard_hosts, shard_identity_steps, unlisted)

SHARDS = [Shard.parse("rs0/n1:27017"), Shard.parse("rs1/n2:27017")]


def registered(*entries: str) -> list[dict]:
    """config.shards / listShards documents for ID/HOST entries."""
    return [{"_id": e.split("/")[0], "host": e, "state": 1} for e in entries]


def config(name: str, host: str, version: int = 3) -> dict:
    """What replSetGetConfig reports for a single-member set."""
    return {"_id": name, "version": version, "term": 7, "members": [{"_id": 0, "host": host, "priority": 1}],
            "settings": {"chainingAllowed": True}}


def test_shard_entry():
    shard = Shard.parse("rs3/node-3.cluster:27018")
    assert (shard.id, shard.host, shard.connection) == ("rs3", "node-3.cluster:27018", "rs3/node-3.cluster:27018")


# ---------------------------------------------------------------- replica sets
def test_a_new_replica_set_is_initiated_with_its_one_member():
    [step] = replica_set_steps("rs0", "n1:27017", None)
    assert step.body == {"replSetInitiate": {"_id": "rs0", "members": [{"_id": 0, "host": "n1:27017"}]}}
    assert step.command == "replSetInitiate" and step.database == "admin" and step.backup is None


def test_the_config_server_replica_set_says_so():
    [step] = replica_set_steps("configserver", "m:27018", None, configsvr=True)
    assert step.body["replSetInitiate"]["configsvr"] is True


def test_a_replica_set_in_place_plans_nothing():
    assert replica_set_steps("rs0", "n1:27017", config("rs0", "n1:27017")) == []


def test_a_replica_set_on_a_new_host_is_forced_to_it_keeping_the_rest_of_its_configuration():
    old = config("rs0", "n1:27017", version=3)
    [step] = replica_set_steps("rs0", "n9:27017", old)
    assert step.command == "replSetReconfig" and step.body["force"] is True
    new = step.body["replSetReconfig"]
    assert new["members"] == [{"_id": 0, "host": "n9:27017", "priority": 1}]
    assert new["version"] == 4 and "term" not in new and new["settings"] == old["settings"]
    assert step.backup == old and "n1:27017 to n9:27017" in step.why
    assert old["members"][0]["host"] == "n1:27017"  # the saved copy is the old one


def test_data_of_another_replica_set_is_refused():
    with pytest.raises(AdminError, match="holds replica set 'rs1', not 'rs0'.*MSPASS_SHARD_ID"):
        replica_set_steps("rs0", "n1:27017", config("rs1", "n1:27017"))


def test_a_replica_set_of_several_members_is_refused():
    cfg = config("rs0", "n1:27017")
    cfg["members"].append({"_id": 1, "host": "n2:27017"})
    with pytest.raises(AdminError, match="2 members"):
        replica_set_steps("rs0", "n1:27017", cfg)


# ---------------------------------------------------------------- the cluster
def test_a_new_cluster_adds_every_shard_by_id_then_enables_sharding_then_shards_each_collection():
    steps = cluster_steps(SHARDS, [], "mspass", parse_collections(["wf_TimeSeries:_id", "arrival:sta"]), [], [])
    assert [s.body for s in steps] == [
        {"addShard": "rs0/n1:27017", "name": "rs0"},
        {"addShard": "rs1/n2:27017", "name": "rs1"},
        {"enableSharding": "mspass"},
        {"shardCollection": "mspass.wf_TimeSeries", "key": {"_id": "hashed"}},
        {"shardCollection": "mspass.arrival", "key": {"sta": "hashed"}},
    ]
    assert [next(iter(s.body)) for s in steps] == [s.command for s in steps]  # the name comes first


def test_a_cluster_in_shape_plans_nothing():
    assert cluster_steps(SHARDS, registered("rs0/n1:27017", "rs1/n2:27017"), "mspass",
                         [("wf_TimeSeries", "_id")], ["mspass", "config"], ["mspass.wf_TimeSeries"]) == []


def test_only_what_is_missing_is_done():
    steps = cluster_steps(SHARDS, registered("rs1/n2:27017"), "mspass",
                          [("wf_TimeSeries", "_id"), ("arrival", "sta")], ["mspass"], ["mspass.wf_TimeSeries"])
    assert [s.body for s in steps] == [{"addShard": "rs0/n1:27017", "name": "rs0"},
                                       {"shardCollection": "mspass.arrival", "key": {"sta": "hashed"}}]


def test_without_a_database_only_shards_are_added():
    assert [s.command for s in cluster_steps(SHARDS, [], "", [], [], [])] == ["addShard", "addShard"]


def test_a_registered_shard_is_matched_by_id_not_by_list_order():
    # the list names the shards in another order: nothing to add, nothing to move
    shuffled = [SHARDS[1], SHARDS[0]]
    assert cluster_steps(shuffled, registered("rs0/n1:27017", "rs1/n2:27017"), "", [], [], []) == []
    assert restore_shard_hosts(shuffled, registered("rs0/n1:27017", "rs1/n2:27017")) == []


def test_restore_moves_each_shard_to_the_host_its_id_has_now():
    now = [Shard.parse("rs1/n7:27017"), Shard.parse("rs0/n8:27017")]  # other nodes, other order
    steps = restore_shard_hosts(now, registered("rs0/n1:27017", "rs1/n2:27017"))
    assert [(s.database, s.body) for s in steps] == [
        ("config", {"update": "shards", "updates": [{"q": {"_id": "rs0"}, "u": {"$set": {"host": "rs0/n8:27017"}}}]}),
        ("config", {"update": "shards", "updates": [{"q": {"_id": "rs1"}, "u": {"$set": {"host": "rs1/n7:27017"}}}]}),
    ]
    assert steps[0].backup == {"_id": "rs0", "host": "rs0/n1:27017", "state": 1}
    assert "shard rs0 moved from rs0/n1:27017 to rs0/n8:27017" in steps[0].why


def test_shards_the_list_does_not_name_are_reported_and_left_alone():
    listed = registered("rs0/n1:27017", "rs1/n2:27017", "old/n3:27017")
    assert unlisted(SHARDS, listed) == ["old"]
    assert restore_shard_hosts(SHARDS, listed) == []
    assert cluster_steps(SHARDS, listed, "", [], [], []) == []


def test_a_shard_whose_config_server_moved_is_told_the_new_address():
    identity = {"_id": "shardIdentity", "shardName": "rs1", "clusterId": "c",
                "configsvrConnectionString": "configserver/c1:20009"}
    [step] = shard_identity_steps(identity, "configserver/d4:31209")
    assert (step.database, step.body) == ("admin", {"update": "system.version", "updates": [
        {"q": {"_id": "shardIdentity"}, "u": {"$set": {"configsvrConnectionString": "configserver/d4:31209"}}}]})
    assert step.backup == identity and "shard rs1 now finds its config server at configserver/d4:31209" in step.why
    assert shard_identity_steps(identity, "configserver/c1:20009") == []  # as before
    assert shard_identity_steps(None, "configserver/d4:31209") == []  # never registered: nothing to tell
    assert shard_identity_steps(identity, "") == []  # not given


# ---------------------------------------------------------------- applying
class Recorder:
    """Stands for a pymongo client: records (database, command) in order."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def __getitem__(self, database: str):
        recorder = self

        class Database:
            def command(self, body):
                recorder.calls.append((database, body))
                return {"ok": 1}

        return Database()


def test_apply_runs_the_steps_in_order_and_saves_what_a_step_replaces_first(tmp_path):
    old = config("rs0", "n1:27017")
    steps = [*replica_set_steps("rs0", "n9:27017", old), Step({"addShard": "rs0/n9:27017"}, "added")]
    client = Recorder()
    said = apply(client, steps, tmp_path / "restores")
    assert client.calls == [("admin", steps[0].body), ("admin", {"addShard": "rs0/n9:27017"})]
    [saved] = (tmp_path / "restores").iterdir()
    assert json.loads(saved.read_text()) == old
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert said[0].endswith(f"(what it replaced is saved in {saved})") and said[1] == "added"


def test_apply_of_nothing_does_nothing(tmp_path):
    client = Recorder()
    assert apply(client, [], tmp_path / "restores") == [] and client.calls == []
    assert not (tmp_path / "restores").exists()
