"""Sharded tier: dbmanager + 2 shards + scheduler + worker + frontend, containers of the
MongoDB-engine image on a private network (`make test-sharding`).

It needs mongod, so an image built with MSPASS_DB_ENGINE=mongodb: with any other image it
fails at once saying so (this project's own CI cannot download MongoDB and does not run
it; the GitHub workflow builds that image and runs it).
"""

from __future__ import annotations

import json
import shutil

import pymongo
import pytest

from tests.support.paths import NOTEBOOKS
from tests.support.workflow import check

pytestmark = pytest.mark.sharding

DATABASE, COLLECTION = "mspass_sharded", "wf_TimeSeries"
N_DATA = 24  # raw + processed: 2 x N_DATA documents


@pytest.fixture
def mongodb_image(image):
    engine = image.labels.get("io.mspass.db-engine")
    if engine != "mongodb":
        pytest.fail(f"the sharded tier needs an image with MongoDB; {image.tags[0] if image.tags else image.id} has "
                    f"{engine!r}. Build one with `make build MSPASS_DB_ENGINE=mongodb` where MongoDB's repository "
                    "answers (the GitHub workflow does)", pytrace=False)
    return image


def start_shards(containers, net, mount, names: dict[str, str], config_server: str = "") -> list:
    """One shard container per id, named (its host name) as given: {id: name}."""
    env = {"MSPASS_ROLE": "shard", **({"MSPASS_CONFIG_SERVER_ADDR": config_server} if config_server else {})}
    shards = [containers.run(name, environment={**env, "MSPASS_SHARD_ID": sid}, network=net, volumes=mount)
              for sid, name in names.items()]
    for c in shards:
        containers.wait_healthy(c)
    return shards


def start_dbmanager(containers, net, mount, shard_list: str, name: str = "dbmanager"):
    manager = containers.run(name, environment={
        "MSPASS_ROLE": "dbmanager", "MSPASS_SHARD_LIST": shard_list, "MSPASS_SHARD_DATABASE": DATABASE,
        "MSPASS_SHARD_COLLECTIONS": f"{COLLECTION}:_id", "MSPASS_DB_READY_FILE": "/home/run/db-ready",
    }, network=net, volumes=mount)
    containers.wait_healthy(manager)
    return manager


def counts_per_shard(containers, net, shards) -> list[int]:
    """Documents of the collection each shard holds, asked of each shard's mongod itself."""
    counts = []
    for c in shards:
        with pymongo.MongoClient(containers.ip(c, net), 27017, directConnection=True,
                                 serverSelectionTimeoutMS=10000) as client:
            counts.append(client[DATABASE][COLLECTION].count_documents({}))
    return counts


def test_workflow_writes_over_both_shards_and_a_restart_with_every_host_changed_finds_every_document(containers, tmp_path,
                                                                                           mongodb_image):
    net = containers.network()
    work = tmp_path / "shared"
    shutil.copytree(NOTEBOOKS, work)
    mount = {str(work): {"bind": "/home", "mode": "rw"}}

    shards = start_shards(containers, net, mount, {"rs0": "shard0", "rs1": "shard1"})
    manager = start_dbmanager(containers, net, mount, "rs0/shard0:27017 rs1/shard1:27017")
    assert (work / "run" / "db-ready").exists()
    scheduler = containers.run("scheduler", environment={"MSPASS_ROLE": "scheduler"}, network=net, volumes=mount)
    worker = containers.run("worker1", environment={"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "scheduler"},
                            network=net, volumes=mount)
    for c in (scheduler, worker):
        containers.wait_healthy(c)

    frontend = containers.run("frontend", ["--batch", "mspass_workflow.ipynb", "-p", "n_data", str(N_DATA),
                                           "-p", "database", DATABASE, "-p", "drop_first", "False"],
                              environment={"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "dbmanager",
                                           "MSPASS_SCHEDULER_ADDRESS": "scheduler"}, network=net, volumes=mount)
    assert containers.wait_exit(frontend, 600) == 0, containers.logs_of(frontend)
    summary = json.loads((work / "mspass_workflow-summary.json").read_text())
    check(summary, N_DATA)

    mongos = pymongo.MongoClient(containers.ip(manager, net), 27017, serverSelectionTimeoutMS=10000)
    assert mongos.config.collections.find_one({"_id": f"{DATABASE}.{COLLECTION}"})["key"] == {"_id": "hashed"}
    assert mongos[DATABASE][COLLECTION].count_documents({}) == 2 * N_DATA
    per_shard = counts_per_shard(containers, net, shards)
    assert sum(per_shard) == 2 * N_DATA and all(n > 0 for n in per_shard), per_shard  # spread over both

    # stop everything (a clean shutdown of every mongod), then start again on the same data
    # as a new HPC job would: every host changed, the shards listed in the other order
    for c in (worker, scheduler, manager, *shards):
        c.stop(timeout=60)
    moved = start_shards(containers, net, mount, {"rs1": "node-b", "rs0": "node-a"},
                         config_server="configserver/node-m:27018")
    manager = start_dbmanager(containers, net, mount, "rs1/node-b:27017 rs0/node-a:27017", name="node-m")
    log = containers.logs_of(manager)
    assert "restore: replica set configserver moved from dbmanager:27018 to node-m:27018" in log, log
    assert "restore: shard rs0 moved from rs0/shard0:27017 to rs0/node-a:27017" in log, log
    assert "restore: shard rs1 moved from rs1/shard1:27017 to rs1/node-b:27017" in log, log
    saved = sorted((work / "db" / "restores").iterdir())
    assert any(json.loads(p.read_text()).get("host") == "rs0/shard0:27017" for p in saved), saved
    for c, sid, host in zip(moved, ("rs1", "rs0"), ("node-b", "node-a")):
        shard_log = containers.logs_of(c)
        assert f"restore: replica set {sid} moved from shard{sid[-1]}:27017 to {host}:27017" in shard_log, shard_log
        assert f"restore: shard {sid} now finds its config server at configserver/node-m:27018" in shard_log

    mongos = pymongo.MongoClient(containers.ip(manager, net), 27017, serverSelectionTimeoutMS=10000)
    docs = list(mongos[DATABASE][COLLECTION].find({}, {"index": 1, "data_tag": 1}))
    assert len(docs) == 2 * N_DATA
    for tag in ("raw", "processed"):
        assert sorted(d["index"] for d in docs if d["data_tag"] == tag) == list(range(N_DATA)), tag
    assert sum(counts_per_shard(containers, net, moved)) == 2 * N_DATA
    # and the sample data too: GridFS chunks of every document, through mongos
    assert mongos[DATABASE]["fs.files"].count_documents({}) == 2 * N_DATA
