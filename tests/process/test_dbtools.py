"""mspass-db against a real db role (FerretDB or mongod as a local process): waveforms
written by mspasspy survive dump, drop, restore byte for byte; imports type their values."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from bson.int64 import Int64

from tests.notebooks.backup_restore import snapshot, synthetic

pytestmark = pytest.mark.process

DB = "backup_test"
#: the console script pyproject.toml declares, as users run it
MSPASS_DB = Path(sys.executable).parent / "mspass-db"


def mspass_db(env: dict, *args: str, expect: int = 0) -> str:
    assert MSPASS_DB.exists(), "mspass-db is not installed in this venv; run `make install`"
    done = subprocess.run([str(MSPASS_DB), *args], env=env, capture_output=True, text=True, timeout=300)
    print(f"$ mspass-db {' '.join(args)}  # exit {done.returncode}\n{done.stdout}{done.stderr}")  # shown on failure
    assert done.returncode == expect, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def db_env(roles):
    roles.start("db", "db").wait_ready()
    # what a notebook's environment gives mspass-db: the address and port, nothing else
    return {**roles.env, "MSPASS_DB_ADDRESS": "127.0.0.1"}


def mspass_database(env: dict, name: str = DB):
    from mspasspy.db.client import DBClient
    from mspasspy.db.database import Database

    client = DBClient(f"mongodb://127.0.0.1:{env['MONGODB_PORT']}/")
    return client, Database(client, name)


def test_waveforms_survive_dump_drop_restore(db_env, tmp_path):
    client, db = mspass_database(db_env)
    client.drop_database(DB)
    # 8 short traces (one GridFS chunk each) and one of 100000 samples (800 kB: 4 chunks)
    for i, npts in enumerate([2000] * 8 + [100_000]):
        db.save_data(synthetic(i, npts), storage_mode="gridfs")
    db.site.insert_many([{"net": "XX", "sta": f"S{i:02d}", "lat": 30.0 + i, "elev": i * 10} for i in range(5)])
    db.site.create_index([("net", 1), ("sta", 1)], unique=True, name="net_sta")
    before = snapshot(db)
    assert before["counts"]["wf_TimeSeries"] == 9 and before["counts"]["fs.chunks"] >= 12, before["counts"]
    assert before["samples"][8].shape == (100_000,)

    dump = tmp_path / "dump"
    out = mspass_db(db_env, "dump", "--engine", "pymongo", "--db", DB, "--out", str(dump))
    assert "using pymongo (--engine pymongo) on mongodb://127.0.0.1:" in out
    assert f"dumped {DB}.wf_TimeSeries: 9 documents" in out and f"dumped {DB}.site: 5 documents" in out
    # mongodump's layout: raw BSON and canonical extended JSON metadata
    files = {p.name for p in (dump / DB).iterdir()}
    assert {"fs.chunks.bson", "fs.chunks.metadata.json", "fs.files.bson", "wf_TimeSeries.bson",
            "site.metadata.json"} <= files
    from bson import decode_file_iter, json_util

    with open(dump / DB / "site.bson", "rb") as f:
        assert sorted(d["sta"] for d in decode_file_iter(f)) == [f"S{i:02d}" for i in range(5)]
    meta = json_util.loads((dump / DB / "site.metadata.json").read_text())
    assert meta["collectionName"] == "site"
    assert {"name": "net_sta", "key": {"net": 1, "sta": 1}, "unique": True}.items() <= \
        next(i for i in meta["indexes"] if i["name"] == "net_sta").items()

    client.drop_database(DB)
    assert DB not in client.list_database_names()
    out = mspass_db(db_env, "restore", "--engine", "pymongo", str(dump))
    assert f"restored {DB}.fs.chunks: {before['counts']['fs.chunks']} documents" in out
    client, db = mspass_database(db_env)
    after = snapshot(db)
    assert after["counts"] == before["counts"]
    assert after["chunks_sha256"] == before["chunks_sha256"]  # fs.chunks byte for byte
    assert sorted(after["samples"]) == list(range(9))
    for i, want in before["samples"].items():
        assert np.array_equal(after["samples"][i], want), f"waveform {i} differs after restore"
    index = next(i for i in db.site.list_indexes() if i["name"] == "net_sta")
    assert dict(index["key"]) == {"net": 1, "sta": 1} and index.get("unique") is True

    # again without --drop: nothing is duplicated, the refusals are counted
    out = mspass_db(db_env, "restore", "--engine", "pymongo", str(dump))
    assert "0 of 5 documents" in out and "5 were there already" in out
    assert snapshot(db)["counts"] == before["counts"]
    # --drop replaces; --db restores the dump's one database under another name
    mspass_db(db_env, "restore", "--engine", "pymongo", "--drop", str(dump))
    assert snapshot(db)["counts"] == before["counts"]
    out = mspass_db(db_env, "restore", "--engine", "pymongo", "--db", "backup_copy", str(dump))
    assert f"restored {DB}.site as backup_copy.site: 5 documents" in out and "1 index" in out
    _, copy = mspass_database(db_env, "backup_copy")
    copied = snapshot(copy)
    assert copied["counts"] == before["counts"] and copied["chunks_sha256"] == before["chunks_sha256"]
    assert np.array_equal(copied["samples"][8], before["samples"][8])
    client.drop_database("backup_copy")


def test_import_json_lines_and_csv_with_their_types(db_env, tmp_path):
    client, _ = mspass_database(db_env)
    client.drop_database("usarray48")
    source = tmp_path / "source.json"
    source.write_text(
        '{"_id": {"$oid": "5f1b2c3d4e5f607182930a1b"}, "lat": 34.5, "lon": -117.25, "depth": 10, '
        '"time": {"$date": "2011-03-11T05:46:24Z"}, "evid": {"$numberLong": "9000000001"}}\n'
        '{"_id": {"$oid": "5f1b2c3d4e5f607182930a1c"}, "lat": {"$numberDouble": "35.0"}, '
        '"lon": {"$numberDouble": "-118.0"}, "depth": {"$numberInt": "7"}, "time": {"$date": {"$numberLong": '
        '"1300000000000"}}, "evid": {"$numberLong": "2"}}\n')
    # the course's form: --opt=value
    out = mspass_db(db_env, "import", "--engine=pymongo", "--db=usarray48", "--collection=source",
                    f"--file={source}")
    assert "imported 2 documents" in out and "into usarray48.source" in out
    docs = list(client["usarray48"]["source"].find().sort("_id", 1))
    assert [type(d["lat"]) for d in docs] == [float, float] and docs[1]["lat"] == 35.0
    assert [type(d["depth"]) for d in docs] == [int, int] and docs[0]["depth"] == 10
    assert all(isinstance(d["time"], datetime) for d in docs) and docs[0]["time"] == datetime(2011, 3, 11, 5, 46, 24)
    assert [type(d["evid"]) for d in docs] == [Int64, Int64]  # bson decodes int64 as Int64

    # the same again: the _ids are there already; --mode upsert replaces instead
    out = mspass_db(db_env, "import", "--engine=pymongo", "--db=usarray48", "--collection=source", f"--file={source}")
    assert "imported 0 documents" in out and "2 refused" in out
    assert client["usarray48"]["source"].count_documents({}) == 2
    changed = tmp_path / "changed.json"
    changed.write_text('{"_id": {"$oid": "5f1b2c3d4e5f607182930a1b"}, "lat": 40.5}\n')
    out = mspass_db(db_env, "import", "--engine=pymongo", "--db=usarray48", "--collection=source", "--mode=upsert",
                    f"--file={changed}")
    assert "imported 1 documents" in out
    assert client["usarray48"]["source"].find_one({"lat": 40.5}, {"_id": 0}) == {"lat": 40.5}
    client["usarray48"]["source"].replace_one({"lat": 40.5}, docs[0])

    # CSV with a header line, by --host/--port as in the course
    arrival = tmp_path / "arrival.csv"
    arrival.write_text('sta,phase,time,snr,net.code,comment\nA01,P,1300000010.25,12,XX,"first, clear"\n'
                       'B02,S,1300000020.5,3000000000,YY,\n')
    out = mspass_db(db_env, "import", "--engine", "pymongo", "--host", "127.0.0.1", "--port", db_env["MONGODB_PORT"],
                    "--db", "SG2021", "--collection", "arrival", "--type", "csv", "--headerline", "--file",
                    str(arrival), "--drop")
    assert "imported 2 documents" in out
    rows = list(client["SG2021"]["arrival"].find({}, {"_id": 0}).sort("sta", 1))
    assert rows == [{"sta": "A01", "phase": "P", "time": 1300000010.25, "snr": 12, "net": {"code": "XX"},
                     "comment": "first, clear"},
                    {"sta": "B02", "phase": "S", "time": 1300000020.5, "snr": Int64(3000000000),
                     "net": {"code": "YY"}, "comment": ""}]
    assert type(rows[0]["snr"]) is int and type(rows[1]["snr"]) is Int64 and type(rows[0]["time"]) is float

    # export and import back: the same documents
    exported = tmp_path / "source.export.json"
    out = mspass_db(db_env, "export", "--engine", "pymongo", "--db", "usarray48", "--collection", "source",
                    "--out", str(exported))
    assert "exported 2 documents" in out and len(exported.read_text().splitlines()) == 2
    assert json.loads(exported.read_text().splitlines()[0])["_id"] == {"$oid": "5f1b2c3d4e5f607182930a1b"}
    mspass_db(db_env, "import", "--engine", "pymongo", "--db", "usarray48", "--collection", "again",
              "--file", str(exported))
    assert list(client["usarray48"]["again"].find().sort("_id", 1)) == docs
    for name in ("usarray48", "SG2021"):
        client.drop_database(name)


def test_errors_are_one_line(db_env, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1}\n{"a": \n')
    out = mspass_db(db_env, "import", "--engine", "pymongo", "--db", "x", "--collection", "y", "--file", str(bad),
                    expect=1)
    assert "mspass-db import: error: line 2: not extended JSON" in out
    out = mspass_db(db_env, "dump", "--engine", "pymongo", "--db", "no_such_db", "--out", str(tmp_path / "d"),
                    expect=1)
    assert "--db 'no_such_db': no such database on the server" in out



def test_the_roles_login_is_used_and_never_shown(roles, tmp_path):
    """A database with a login: mspass-db logs in with the roles' own variables (the
    password in a *_FILE) and prints it nowhere; without them the server's refusal is one line."""
    password = "p@ss:w/rd with spaces"
    secret = tmp_path / "db-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    login = {"MONGO_INITDB_ROOT_USERNAME": "mspass", "MONGO_INITDB_ROOT_PASSWORD_FILE": str(secret)}
    roles.start("db", "db", **login).wait_ready()
    env = {**roles.env, "MSPASS_DB_ADDRESS": "127.0.0.1", **login}
    source = tmp_path / "source.json"
    source.write_text('{"_id": 1, "sta": "A01"}\n{"_id": 2, "sta": "B02"}\n')
    out = mspass_db(env, "import", "--engine", "pymongo", "--db", "authdb", "--collection", "site",
                    "--file", str(source))
    out += mspass_db(env, "dump", "--engine", "pymongo", "--db", "authdb", "--out", str(tmp_path / "dump"))
    out += mspass_db(env, "restore", "--engine", "pymongo", "--drop", str(tmp_path / "dump"))
    assert "imported 2 documents" in out and "restored authdb.site: 2 documents" in out
    refused = mspass_db(roles.env, "dump", "--engine", "pymongo", "--uri",
                        f"mongodb://mspass:wrong@127.0.0.1:{roles.env['MONGODB_PORT']}/", "--out",
                        str(tmp_path / "d2"), expect=1)
    assert "mspass-db dump: error: the database refused the login" in refused
    assert len(refused.strip().splitlines()) == 2 and "wrong" not in refused, refused
    # without the login variables: refused, and said so
    anonymous = mspass_db(roles.env, "dump", "--engine", "pymongo", "--db", "authdb", "--out", str(tmp_path / "d3"),
                          expect=1)
    assert "mspass-db dump: error:" in anonymous and "requires a login" in anonymous, anonymous
    assert password not in out + refused + anonymous
