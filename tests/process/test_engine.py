"""Engine compatibility: every MongoDB feature MsPASS relies on, against the real database
server of the db role (FerretDB here; mongod where it is installed). Engine-neutral: the
same assertions hold on MongoDB.

The inventory comes from mspasspy 2.4.3's source: the index kinds it creates, the cursor
options it passes, its bulk writes (blocks of 1000), GridFS, sessions, and the commands
that Client() and Database send. Every client here has a socket timeout, so a request the
server never answers fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pymongo
import pytest
from bson import ObjectId
from pymongo.errors import BulkWriteError

from tests.support.prerequisites import require
from tests.support.processes import Roles

pytestmark = pytest.mark.process

#: no request may take longer than this (a hang is a failure, not a stuck test)
ANSWER_WITHIN = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require(shutil.which("ferretdb") or shutil.which("mongod"),
            "a database server (ferretdb or mongod) on PATH; run `make install`")
    roles = Roles(tmp_path_factory.mktemp("engine"))
    db = roles.start("db", "db")
    try:
        db.wait_ready()
        yield roles
    finally:
        roles.cleanup()
        print(roles.logs()[-4000:])


@pytest.fixture
def client(server):
    c = pymongo.MongoClient(f"mongodb://127.0.0.1:{server.env['MONGODB_PORT']}/",
                            socketTimeoutMS=ANSWER_WITHIN * 1000, serverSelectionTimeoutMS=10000)
    yield c
    c.close()


@pytest.fixture
def db(client, request):
    name = "compat_" + request.node.name[:40].replace("[", "_").replace("]", "")
    client.drop_database(name)
    return client[name]


def db_log(server) -> str:
    return next((server.work / "logs").glob("db-*.log")).read_text(errors="replace")


# ---------------------------------------------------------------------- what Client() does
def test_handshake_and_server_info(client):
    assert client.admin.command("ping")["ok"] == 1
    assert client.admin.command("hello")["isWritablePrimary"] is True
    assert "version" in client.server_info()  # mspasspy.client.Client() calls it first


def test_the_history_text_index_of_client(db):
    """GlobalHistoryManager: a compound TEXT index, created again by every Client()."""
    history = db["history_global"]
    keys = [("alg_name", pymongo.TEXT), ("parameters", pymongo.TEXT)]
    assert history.create_index(keys) == "alg_name_text_parameters_text"
    assert history.create_index(keys) == "alg_name_text_parameters_text"  # a no-op the second time
    assert "alg_name_text_parameters_text" in history.index_information()
    history.insert_one({"alg_name": "filter", "parameters": "bandpass 0.5 5"})
    assert history.count_documents({"alg_name": "filter"}) == 1


def test_a_text_query_answers_at_once(db):
    """MsPASS never runs $text; where an engine cannot, it must say so, not hang."""
    db["t"].create_index([("alg_name", pymongo.TEXT)])
    db["t"].insert_one({"alg_name": "detrend"})
    start = time.monotonic()
    try:
        found = list(db["t"].find({"$text": {"$search": "detrend"}}))
        assert len(found) == 1
    except pymongo.errors.OperationFailure as err:
        assert "$text" in str(err)
    assert time.monotonic() - start < 5


def test_ascending_and_compound_indexes(db):
    wf = db["wf_TimeSeries"]
    assert wf.create_index("data_tag") == "data_tag_1"
    assert wf.create_index([("net", pymongo.ASCENDING), ("sta", pymongo.ASCENDING),
                            ("starttime", pymongo.DESCENDING)]) == "net_1_sta_1_starttime_-1"
    assert {"_id_", "data_tag_1", "net_1_sta_1_starttime_-1"} <= set(wf.index_information())


# ---------------------------------------------------------------------- reads
@pytest.fixture
def channels(db):
    coll = db["channel"]
    coll.insert_many([{"net": "XX", "sta": f"S{i:04d}", "chan": "BHZ", "loc": "00", "starttime": float(i),
                       "endtime": float(i) + 1e9, "lat": 10 + i / 1000, "lon": -100.0, "elev": 0.1 * i,
                       "hang": 0.0, "vang": 0.0} for i in range(1500)])
    return coll


def test_cursor_options_mspass_uses(channels):
    assert channels.count_documents({}) == 1500
    assert channels.count_documents({"starttime": {"$gte": 100.0, "$lt": 200.0}}) == 100
    assert channels.count_documents({"$or": [{"sta": "S0001"}, {"sta": "S0002"}]}) == 2
    ordered = [d["starttime"] for d in channels.find({}, {"starttime": 1, "_id": 0}).sort("starttime", -1).limit(5)]
    assert ordered == [1499.0, 1498.0, 1497.0, 1496.0, 1495.0]
    page = list(channels.find({}).sort("starttime", 1).skip(10).limit(3))
    assert [d["sta"] for d in page] == ["S0010", "S0011", "S0012"]
    # small batches: many getMore round trips, every document once
    assert len({d["_id"] for d in channels.find({}, batch_size=7)}) == 1500
    assert channels.find_one({"sta": "S0042"}, {"lat": 1})["lat"] == pytest.approx(10.042)


@pytest.mark.parametrize("indexed", [False, True], ids=["no index", "indexed"])
def test_equality_finds_scalars_and_arrays_holding_the_value(db, indexed):
    """MsPASS selects by data_tag, sta, files_id (GridFS), ... with an index or without;
    an array holding the value matches too, in either form of equality."""
    coll = db["wf_TimeSeries"]
    if indexed:
        coll.create_index("tag")
    oid = ObjectId()
    coll.insert_many([{"tag": "a"}, {"tag": ["b", "a"]}, {"tag": "b"}, {"tag": {"x": "a"}}, {"tag": oid},
                      {"tag": [oid]}, {"other": "a"}, {"tag": "\u00e9<&>\"'"}, {"tag": 1}])
    assert coll.count_documents({"tag": "a"}) == coll.count_documents({"tag": {"$eq": "a"}}) == 2
    assert coll.count_documents({"tag": oid}) == 2
    assert coll.count_documents({"tag": "\u00e9<&>\"'"}) == 1
    assert coll.count_documents({"tag": "a", "other": {"$exists": False}}) == 2
    assert coll.count_documents({"tag": "b", "_id": {"$exists": True}}) == 2
    assert coll.count_documents({"tag": "c"}) == 0


def test_no_cursor_timeout_scan_as_mspass_manages_it(channels, monkeypatch):
    """Database.clean & co: a no_cursor_timeout cursor in an explicit session that is
    refreshed while the scan runs (every document here, every 5 minutes in MsPASS)."""
    from mspasspy.db import database

    monkeypatch.setattr(database, "_CURSOR_SESSION_REFRESH_INTERVAL_SECONDS", 0.0)
    with database._managed_collection_cursor(channels, {"chan": "BHZ"}, no_cursor_timeout=True) as docs:
        assert sum(1 for _ in docs) == 1500


# ---------------------------------------------------------------------- writes
def test_bulk_write_of_more_update_one_than_pooled_connections_completes(db):
    """One update command of more statements than the server's 100 pooled connections (an
    unpatched FerretDB v1 never answered it); MsPASS sends blocks of 1000 (next test)."""
    wf = db["wf_miniseed"]
    ids = wf.insert_many([{"sta": f"S{i:04d}", "n": 0} for i in range(1000)]).inserted_ids
    for ordered in (True, False):
        start = time.monotonic()
        result = wf.bulk_write([pymongo.UpdateOne({"_id": i}, {"$set": {"n": 1, "ordered": ordered}})
                                for i in ids[:250]], ordered=ordered)
        print(f"250 UpdateOne (ordered={ordered}): {time.monotonic() - start:.2f} s")
        assert result.matched_count == 250
    assert wf.count_documents({"n": 1}) == 250 and wf.count_documents({"ordered": False}) == 250


def _bulk_with_errors(db):
    """A collection with a unique index, and one update command whose statements 1, 3 and 4 fail."""
    coll = db["wf_miniseed"]
    coll.create_index("k", unique=True)
    coll.insert_many([{"_id": i, "k": i, "n": 0} for i in range(1, 5)] + [{"_id": 5, "s": "text"}])
    return coll, [
        pymongo.UpdateOne({"_id": 1}, {"$set": {"n": 1}}),
        pymongo.UpdateOne({"_id": 2}, {"$set": {"k": 1}}),  # duplicate key: k 1 is _id 1's
        pymongo.UpdateOne({"_id": 6}, {"$set": {"k": 6}}, upsert=True),
        pymongo.UpdateOne({"_id": 5}, {"$inc": {"s": 1}}),  # $inc of a string
        pymongo.UpdateOne({"_id": 7}, {"$set": {"k": 3}}, upsert=True),  # the upsert collides on k
        pymongo.UpdateMany({"n": 0}, {"$inc": {"n": 10}}),
        pymongo.UpdateOne({"_id": 3}, {"$set": {"t": "x"}}),
    ]


def _write_errors(error: BulkWriteError) -> list[tuple[int, int]]:
    return [(e["index"], e["code"]) for e in error.details["writeErrors"]]


def test_bulk_write_ordered_stops_at_the_first_error_and_keeps_the_statements_before(db):
    coll, ops = _bulk_with_errors(db)
    with pytest.raises(BulkWriteError) as caught:
        coll.bulk_write(ops, ordered=True)
    details = caught.value.details
    assert (details["nMatched"], details["nModified"], details["nUpserted"], details["upserted"]) == (1, 1, 0, [])
    assert _write_errors(caught.value) == [(1, 11000)]
    assert list(coll.find().sort("_id", 1)) == [
        {"_id": 1, "k": 1, "n": 1}, {"_id": 2, "k": 2, "n": 0}, {"_id": 3, "k": 3, "n": 0},
        {"_id": 4, "k": 4, "n": 0}, {"_id": 5, "s": "text"}]


def test_bulk_write_unordered_goes_past_errors_and_reports_each_with_its_index(db):
    coll, ops = _bulk_with_errors(db)
    with pytest.raises(BulkWriteError) as caught:
        coll.bulk_write(ops, ordered=False)
    details = caught.value.details
    assert (details["nMatched"], details["nModified"], details["nUpserted"]) == (5, 5, 1)
    assert [(u["index"], u["_id"]) for u in details["upserted"]] == [(2, 6)]
    assert _write_errors(caught.value) == [(1, 11000), (3, 14), (4, 11000)]
    assert list(coll.find().sort("_id", 1)) == [
        {"_id": 1, "k": 1, "n": 1}, {"_id": 2, "k": 2, "n": 10}, {"_id": 3, "k": 3, "n": 10, "t": "x"},
        {"_id": 4, "k": 4, "n": 10}, {"_id": 5, "s": "text"}, {"_id": 6, "k": 6}]


def test_bulk_write_statements_see_the_ones_before_them(db):
    """One update command: each statement reads what the earlier ones wrote (the same
    document three times, an upserted document, a multi update after single ones)."""
    coll = db["wf_miniseed"]
    coll.insert_many([{"_id": i, "n": 0} for i in range(1, 4)])
    result = coll.bulk_write([pymongo.UpdateOne({"_id": 1}, {"$inc": {"n": 1}})] * 3 + [
        pymongo.UpdateOne({"_id": 9}, {"$set": {"n": 5}}, upsert=True),
        pymongo.UpdateOne({"_id": 9}, {"$inc": {"n": 1}}),
        pymongo.UpdateOne({"_id": 2}, {"$set": {"t": "x"}}),
        pymongo.UpdateMany({"t": "x"}, {"$inc": {"n": 10}}),
        pymongo.UpdateOne({"_id": 2, "n": 10}, {"$set": {"t": "y"}})])
    assert (result.matched_count, result.modified_count, result.upserted_ids) == (7, 7, {3: 9})
    assert list(coll.find().sort("_id", 1)) == [
        {"_id": 1, "n": 3}, {"_id": 2, "n": 10, "t": "y"}, {"_id": 3, "n": 0}, {"_id": 9, "n": 6}]


def test_update_many_over_4000_documents(db):
    """update_many of thousands of documents (MsPASS updates whole wf collections), here
    also on the indexed field that selects them."""
    coll = db["wf_TimeSeries"]
    coll.create_index("data_tag")
    coll.insert_many([{"i": i, "data_tag": "raw", "n": 0} for i in range(4000)])
    start = time.monotonic()
    result = coll.update_many({"data_tag": "raw"}, {"$inc": {"n": 1}, "$set": {"data_tag": "cooked"}})
    print(f"update_many of 4000 documents: {time.monotonic() - start:.2f} s")
    assert (result.matched_count, result.modified_count) == (4000, 4000)
    start = time.monotonic()
    result = coll.update_many({"i": {"$gte": 1000, "$lt": 3000}}, {"$inc": {"n": 1}})
    print(f"update_many of 2000 of 4000 documents by a range: {time.monotonic() - start:.2f} s")
    assert (result.matched_count, result.modified_count) == (2000, 2000)
    assert coll.count_documents({"data_tag": "cooked"}) == 4000
    assert coll.count_documents({"n": 1}) == 2000 and coll.count_documents({"n": 2}) == 2000
    assert {d["i"] for d in coll.find({"n": 2}, {"i": 1})} == set(range(1000, 3000))


def test_concurrent_update_commands_lose_no_update(db, server):
    """Four clients at once, each one update command over the same 1000 documents (ordered,
    unordered UpdateOne and update_many): every document gets every increment."""
    coll = db["wf_miniseed"]
    ids = coll.insert_many([{"n": 0} for _ in range(1000)]).inserted_ids
    url = f"mongodb://127.0.0.1:{server.env['MONGODB_PORT']}/"

    def update(kind: str) -> int:
        with pymongo.MongoClient(url, socketTimeoutMS=ANSWER_WITHIN * 1000) as other:
            c = other[db.name][coll.name]
            if kind == "many":
                return c.update_many({}, {"$inc": {"n": 1}}).modified_count
            ops = [pymongo.UpdateOne({"_id": i}, {"$inc": {"n": 1}}) for i in ids]
            return c.bulk_write(ops, ordered=kind == "ordered").modified_count

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(update, ["ordered", "unordered", "many", "many"])) == [1000] * 4
    assert coll.distinct("n") == [4]


def test_mspass_bulk_normalize_on_1000_documents(db, channels):
    """MsPASS's own normalisation: a cached channel matcher, updates in blocks of 1000."""
    from mspasspy.db.database import Database
    from mspasspy.db.normalize import MiniseedMatcher, bulk_normalize

    mdb = Database(db.client, db.name)
    mdb["wf_miniseed"].insert_many([{"net": "XX", "sta": f"S{i:04d}", "chan": "BHZ", "loc": "00",
                                     "starttime": 1e8 + i} for i in range(1200)])
    start = time.monotonic()
    counts = bulk_normalize(mdb, matcher_list=[MiniseedMatcher(mdb)])
    print(f"bulk_normalize of 1200 documents: {time.monotonic() - start:.2f} s")
    assert counts == [1200, 1200]
    doc = mdb["wf_miniseed"].find_one({"sta": "S0042"})
    assert doc["channel_lat"] == pytest.approx(10.042)
    assert doc["channel_id"] == channels.find_one({"sta": "S0042"})["_id"]


def test_inserts_updates_upserts_and_deletes(db):
    coll = db["wf_TimeSeries"]
    assert len(coll.insert_many([{"i": i, "data_tag": "raw"} for i in range(5000)]).inserted_ids) == 5000
    oid = coll.insert_one({"i": -1, "nested": {"a": 1}}).inserted_id
    assert coll.update_one({"_id": oid}, {"$set": {"nested.b": 2}, "$unset": {"i": ""}}).modified_count == 1
    assert coll.find_one({"_id": oid})["nested"] == {"a": 1, "b": 2}
    assert coll.update_many({"data_tag": "raw", "i": {"$lt": 100}}, {"$set": {"data_tag": "cooked"}}).modified_count == 100
    assert coll.replace_one({"key": "k"}, {"key": "k", "v": 1}, upsert=True).upserted_id is not None
    assert coll.replace_one({"key": "k"}, {"key": "k", "v": 2}, upsert=True).modified_count == 1
    result = coll.bulk_write([pymongo.InsertOne({"x": 1}), pymongo.UpdateOne({"x": 1}, {"$set": {"y": 2}}),
                              pymongo.UpdateOne({"x": 9}, {"$set": {"y": 9}}, upsert=True),
                              pymongo.DeleteOne({"key": "k"})])
    assert (result.inserted_count, result.modified_count, result.upserted_count, result.deleted_count) == (1, 1, 1, 1)
    assert coll.delete_one({"i": 4999}).deleted_count == 1
    assert coll.delete_many({"data_tag": "cooked"}).deleted_count == 100
    assert coll.count_documents({"data_tag": "raw"}) == 4899


def test_gridfs_round_trip_of_sample_data(db):
    """save_data/read_data with storage_mode='gridfs': put, get, exists, delete."""
    import gridfs

    fs = gridfs.GridFS(db)
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several chunks, and a partial last one
    file_id = fs.put(payload)
    assert fs.exists(file_id)
    assert fs.get(file_id).read() == payload
    fs.delete(file_id)
    assert not fs.exists(file_id)
    assert db["fs.chunks"].count_documents({"files_id": file_id}) == 0


def test_sessions_end_and_refresh(client):
    with client.start_session() as session:
        assert client.admin.command({"refreshSessions": [session.session_id]})["ok"] == 1
    assert client.admin.command({"endSessions": [{"id": ObjectId().binary}]})["ok"] == 1


def test_collections_and_databases(client, db):
    db["a"].insert_one({"x": 1})
    db["a"].rename("b")
    assert "b" in db.list_collection_names() and "a" not in db.list_collection_names()
    db.drop_collection("b")
    assert "b" not in db.list_collection_names()
    db["c"].insert_one({"x": 1})
    client.drop_database(db.name)
    assert db.name not in client.list_database_names()


# ---------------------------------------------------------------------- MsPASS itself
def test_every_command_of_client_and_database_succeeds(server, monkeypatch):
    """Client(), save_data (GridFS), read_data and delete_data under command monitoring:
    each command MsPASS sends must succeed on this engine."""
    from pymongo import monitoring

    class Commands(monitoring.CommandListener):
        def __init__(self):
            self.names, self.failures = [], []

        def started(self, event):
            self.names.append(event.command_name)

        def succeeded(self, event):
            pass

        def failed(self, event):
            # GridFS lists the indexes of fs.* before it creates them: MongoDB answers
            # NamespaceNotFound (26) there too, and pymongo expects it
            if (event.command_name, event.failure.get("code")) != ("listIndexes", 26):
                self.failures.append((event.command_name, str(event.failure)[:200]))

    listener = Commands()
    monitoring.register(listener)
    from mspasspy.ccore.seismic import DoubleVector, TimeSeries
    from mspasspy.client import Client

    for name, value in {"MSPASS_DB_ADDRESS": "127.0.0.1", "MONGODB_PORT": server.env["MONGODB_PORT"],
                        "MSPASS_SCHEDULER": "none"}.items():
        monkeypatch.setenv(name, value)  # what the frontend exports: Client() reads it
    client = Client(database_name="compat_mspass")
    db = client.get_database()
    ts = TimeSeries()
    ts.set_npts(500)
    ts.set_dt(0.05)
    ts.set_t0(1.7e9)
    ts.data = DoubleVector([float(i % 17) for i in range(500)])
    ts.set_live()
    ts["net"], ts["sta"], ts["chan"] = "XX", "S1", "BHZ"
    db.save_data(ts, storage_mode="gridfs", data_tag="compat")
    doc = db.wf_TimeSeries.find_one({"data_tag": "compat"})
    back = db.read_data(doc)
    assert list(back.data) == list(ts.data)
    db.delete_data(doc["_id"], "TimeSeries")
    assert db.wf_TimeSeries.count_documents({"data_tag": "compat"}) == 0
    client.get_database_client().close()
    assert {"createIndexes", "insert", "find", "delete"} <= set(listener.names)
    assert not listener.failures, listener.failures
