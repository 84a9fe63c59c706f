"""mspass-db without a server: options, connection, CSV/JSON parsing, metadata, the tools' argv."""

from __future__ import annotations

import io
import math
import os
from datetime import datetime
from pathlib import Path

import pytest
from bson import json_util
from bson.int64 import Int64

from mspass_roles import dbtools


def parse(*argv: str):
    return dbtools.build_parser().parse_args(list(argv))


def run_main(capsys, *argv: str, env: dict | None = None) -> tuple[int, str]:
    try:
        code = dbtools.main(list(argv), env=env or {})
    except SystemExit as exit_:  # argparse
        code = exit_.code
    return code, capsys.readouterr().err


# ---------------------------------------------------------------- options
def test_mongoimport_option_forms_of_the_mspass_course():
    args = parse("import", "--db=usarray48", "--collection=source", "--file=exports/source.json")
    assert (args.db, args.collection, args.file, args.type, args.mode) == ("usarray48", "source",
                                                                          "exports/source.json", "json", "insert")
    args = parse("import", "--host", "dbhost", "--port", "27017", "--db", "SG2021", "--collection", "arrival",
                 "--file", "mongodb_export/arrival.json")
    assert (args.host, args.port, args.db) == ("dbhost", 27017, "SG2021")
    assert dbtools.target_uri(args, {}) == "mongodb://dbhost:27017/"


def test_defaults_are_mongodumps():
    assert (parse("dump").out, parse("dump").db, parse("dump").engine) == ("dump", None, "auto")
    args = parse("restore")
    assert (args.dir, args.drop, args.db) == ("dump", False, None)


@pytest.mark.parametrize("argv, needle", [
    (["import", "--db", "d", "--collection", "c", "--type", "xml"], "--type: invalid choice: 'xml' (choose from"),
    (["dump", "--engine", "mongo"], "invalid choice: 'mongo' (choose from 'auto', 'tools', 'pymongo')"),
    (["dump", "--port", "0"], "'0' is not a port; valid: 1-65535"),
    (["import", "--collection", "c"], "the following arguments are required: -d/--db"),
    (["dump", "--d", "x"], "unrecognized arguments"),  # no abbreviations: --d is neither --db nor --drop
])
def test_argparse_refusals_exit_2_naming_the_option(capsys, argv, needle):
    code, err = run_main(capsys, *argv)
    assert code == 2 and needle in err, err


@pytest.mark.parametrize("argv, needle", [
    (["import", "--db", "d", "--collection", "c", "--type", "csv", "--file", __file__],
     "--type csv needs --headerline or --fields"),
    (["import", "--db", "d", "--collection", "c", "--headerline", "--file", __file__],
     "--headerline, --fields and --ignoreBlanks are for --type csv or tsv"),
    (["import", "--db", "d", "--collection", "c", "--file", "/nonexistent/x.json"],
     "--file '/nonexistent/x.json' is not a readable file"),
    (["import", "--db", "a.b", "--collection", "c"], "--db 'a.b': contains '.'"),
    (["dump", "--uri", "mongodb://u:pw@h/", "--host", "h"], "--uri and --host/--port both given"),
    (["dump", "--uri", "http://h/"], "is not a MongoDB URI"),
    (["restore", "/nonexistent/dump"], "DIR '/nonexistent/dump' is not a directory"),
    (["export", "--db", "d", "--collection", "c", "--query", "{nope"], "--query is not an extended-JSON document"),
])
def test_bad_options_exit_2_before_connecting(capsys, argv, needle):
    code, err = run_main(capsys, *argv)
    assert code == 2 and needle in err, err
    assert "pw" not in err


def test_engine_tools_without_the_tools_is_an_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    code, err = run_main(capsys, "dump", "--engine", "tools", "--out", str(tmp_path / "d"))
    assert code == 2 and "--engine tools: mongodump is not on PATH; valid: auto" in err, err


# ---------------------------------------------------------------- connection
def test_default_uri_is_the_notebooks_and_the_roles_login_is_used(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    env = {"MSPASS_DB_ADDRESS": "db", "MONGODB_PORT": "27018", "MONGO_INITDB_ROOT_USERNAME": "mspass",
           "MONGO_INITDB_ROOT_PASSWORD_FILE": str(secret)}
    uri = dbtools.target_uri(parse("dump"), env)
    assert uri == "mongodb://db:27018/"
    assert dbtools.credentials(uri, env) == ("mspass", "s3cret")
    # a URI with its own login keeps it
    assert dbtools.credentials("mongodb://other:pw@db:1/", env) is None
    # --host/--port replace the address, not the login
    assert dbtools.target_uri(parse("dump", "--host", "node7:27100"), env) == "mongodb://node7:27100/"
    assert dbtools.target_uri(parse("dump", "--port", "27100"), env) == "mongodb://db:27100/"
    assert dbtools.target_uri(parse("dump", "--host", "rs0/a,b:2", "--port", "3"), env) == \
        "mongodb://a:3,b:2/?replicaSet=rs0"
    assert dbtools.target_uri(parse("dump"), {"MSPASS_DB_URI": "mongodb://x:1/"}) == "mongodb://x:1/"


def test_unreadable_password_file_is_a_usage_error(capsys, tmp_path):
    env = {"MONGO_INITDB_ROOT_USERNAME": "u", "MONGO_INITDB_ROOT_PASSWORD_FILE": str(tmp_path / "missing")}
    code, err = run_main(capsys, "dump", "--engine", "pymongo", env=env)
    assert code == 2 and "MONGO_INITDB_ROOT_PASSWORD_FILE=" in err and "cannot be read" in err, err


def test_unreachable_server_is_one_line_exit_1(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(dbtools, "connect", lambda uri, login: __import__("pymongo").MongoClient(
        uri, serverSelectionTimeoutMS=300, **({"username": login[0], "password": login[1]} if login else {})))
    code, err = run_main(capsys, "dump", "--engine", "pymongo", "--uri", "mongodb://u:topsecret@127.0.0.1:9/",
                         "--out", str(tmp_path / "d"))
    assert code == 1, err
    assert "using pymongo (--engine pymongo) on mongodb://***@127.0.0.1:9/" in err
    assert "cannot reach the database" in err and "topsecret" not in err
    assert len(err.strip().splitlines()) == 2, err


# ---------------------------------------------------------------- CSV values
@pytest.mark.parametrize("text, want, kind", [
    ("12", 12, int), ("-7", -7, int), ("+3", 3, int),
    ("3000000000", 3000000000, Int64), ("9223372036854775808", 9.223372036854776e18, float),
    ("1.5", 1.5, float), ("1e3", 1000.0, float), ("-0.25", -0.25, float),
    ("abc", "abc", str), ("", "", str), (" 12", " 12", str), ("1_000", "1_000", str),
    ("1e400", "1e400", str), ("12abc", "12abc", str), ("١٢", "١٢", str),
])
def test_csv_values_are_typed_as_mongoimport_types_them(text, want, kind):
    got = dbtools.auto_value(text)
    assert type(got) is kind and got == want


def test_inf_and_nan_are_floats_as_in_go():
    assert dbtools.auto_value("inf") == math.inf and math.isnan(dbtools.auto_value("NaN"))


def test_csv_rows_nest_dotted_names_and_name_extra_fields():
    text = "sta,lat,elev,net.code,net.n\nA01,34.5,1200,XX,7\nB02,,-3,YY,8,extra\n"
    docs = list(dbtools.tabular_documents(io.StringIO(text), "csv", None, False))
    assert docs == [{"sta": "A01", "lat": 34.5, "elev": 1200, "net": {"code": "XX", "n": 7}},
                    {"sta": "B02", "lat": "", "elev": -3, "net": {"code": "YY", "n": 8}, "field5": "extra"}]
    docs = list(dbtools.tabular_documents(io.StringIO("B02\t\t-3\n"), "tsv", "sta,lat,elev", True))
    assert docs == [{"sta": "B02", "elev": -3}]


# ---------------------------------------------------------------- JSON
def test_json_lines_relaxed_canonical_and_multiline():
    text = ('{"_id": 1, "t": {"$date": "2020-01-01T00:00:00Z"}, "n": {"$numberLong": "5"}}\n'
            '\n'
            '{"_id": {"$numberInt": "2"}, "x": {"$numberDouble": "2.5"}} {"_id": 3}\n'
            '{"_id": 4,\n "nested": {"a": [1, 2]}\n}\n')
    docs = list(dbtools.json_documents(io.StringIO(text), array=False))
    assert [d["_id"] for d in docs] == [1, 2, 3, 4]
    assert isinstance(docs[0]["t"], datetime) and isinstance(docs[0]["n"], Int64)
    assert type(docs[1]["x"]) is float and docs[3]["nested"] == {"a": [1, 2]}


def test_json_errors_name_the_line():
    with pytest.raises(dbtools.DataError, match="line 2: not extended JSON"):
        list(dbtools.json_documents(io.StringIO('{"a": 1}\n{"a": \n'), array=False))
    with pytest.raises(dbtools.DataError, match="line 1: int is not a document"):
        list(dbtools.json_documents(io.StringIO("12\n"), array=False))
    with pytest.raises(dbtools.DataError, match="--jsonArray"):
        list(dbtools.json_documents(io.StringIO('{"a": 1}'), array=True))
    assert list(dbtools.json_documents(io.StringIO('[{"a": 1}, {"a": 2}]'), array=True)) == [{"a": 1}, {"a": 2}]


# ---------------------------------------------------------------- dump format
def test_metadata_is_mongodumps_canonical_extended_json():
    indexes = [{"v": 2, "key": {"_id": 1}, "name": "_id_"},
               {"v": 2, "key": {"files_id": 1, "n": 1}, "name": "files_id_1_n_1", "unique": True, "ns": "db.fs.chunks"}]
    text = dbtools.metadata_json("fs.chunks", {}, indexes)
    assert '"key": {"files_id": {"$numberInt": "1"}, "n": {"$numberInt": "1"}}' in text
    back = json_util.loads(text)
    assert back["collectionName"] == "fs.chunks" and back["options"] == {} and back["type"] == "collection"
    assert back["indexes"][1] == {"v": 2, "key": {"files_id": 1, "n": 1}, "name": "files_id_1_n_1", "unique": True}
    assert list(back["indexes"][1]["key"]) == ["files_id", "n"]  # key order is the index


def test_collection_file_names_escape_like_mongodump():
    assert dbtools.collection_file("a/b%c d$e") == "a%2Fb%25c%20d$e"  # Go's url.PathEscape
    assert dbtools.collection_name("a%2Fb%25c%20d$e") == "a/b%c d$e"
    assert dbtools.collection_file("wf_TimeSeries") == "wf_TimeSeries"


def test_batches_are_bounded_by_count_and_bytes(monkeypatch):
    monkeypatch.setattr(dbtools, "BATCH_DOCUMENTS", 3)
    monkeypatch.setattr(dbtools, "BATCH_BYTES", 10)
    got = [[len(b), n] for b, n in dbtools.batches([4, 4, 4, 1, 1, 1, 1, 1], lambda d: d)]
    assert got == [[3, 12], [3, 3], [2, 2]]


def test_dump_layouts(tmp_path):
    (tmp_path / "d" / "one").mkdir(parents=True)
    (tmp_path / "d" / "one" / "c.bson").write_bytes(b"")
    layout = dbtools.dump_layout(tmp_path / "d", "renamed")
    assert layout.plan == [("one", "renamed", tmp_path / "d" / "one")] and not layout.single
    (tmp_path / "d" / "two").mkdir()
    (tmp_path / "d" / "two" / "c.metadata.json").write_text("{}")
    with pytest.raises(dbtools.UsageError, match="holds one, two"):
        dbtools.dump_layout(tmp_path / "d", "three")
    assert dbtools.dump_layout(tmp_path / "d" / "two", None).single
    with pytest.raises(dbtools.UsageError, match="holds no dump"):
        dbtools.dump_layout(tmp_path, None)


# ---------------------------------------------------------------- MongoDB's tools
FAKE_TOOL = """#!/bin/sh
# records how it was called: its argv, and the --config file's mode and text
out="$FAKE_TOOL_LOG"
printf '%s\\n' "$0" "$@" > "$out"
for a in "$@"; do
  case "$a" in --config=*) f="${a#--config=}"; stat -c '%a' "$f" >> "$out"; cat "$f" >> "$out";; esac
done
exit 0
"""


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in dbtools.TOOLS.values():
        (bin_dir / tool).write_text(FAKE_TOOL)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "tool.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TOOL_LOG", str(log))
    return log


def test_tools_get_the_uri_and_password_in_a_private_config_file(capsys, fake_tools, tmp_path):
    env = {"MSPASS_DB_ADDRESS": "db", "MONGO_INITDB_ROOT_USERNAME": "mspass", "MONGO_INITDB_ROOT_PASSWORD": "p@ss w"}
    code, err = run_main(capsys, "dump", "--db", "mydb", "--out", str(tmp_path / "out"), env=env)
    assert code == 0, err
    assert "using mongodump (MongoDB's database tools) on mongodb://db:27017/" in err
    lines = fake_tools.read_text().splitlines()
    assert Path(lines[0]).name == "mongodump"
    config = next(a for a in lines if a.startswith("--config="))[len("--config="):]
    assert lines[1:4] == [f"--config={config}", f"--out={tmp_path / 'out'}", "--db=mydb"]
    assert lines[4] == "600"
    assert lines[5] == 'uri: "mongodb://mspass:p%40ss%20w@db:27017/"'
    assert not Path(config).exists() and not Path(config).parent.exists()  # removed after
    assert "p@ss" not in "".join(lines[:4]) and "p%40ss" not in err


def test_tools_arguments_for_each_command(tmp_path):
    dump = tmp_path / "dump"
    (dump / "src").mkdir(parents=True)
    (dump / "src" / "c.bson").write_bytes(b"")
    assert dbtools.tool_arguments(parse("restore", "--drop", "--db", "new", str(dump))) == \
        ["--drop", "--nsFrom=src.*", "--nsTo=new.*", str(dump)]
    assert dbtools.tool_arguments(parse("restore", "--db", "src", str(dump))) == ["--nsInclude=src.*", str(dump)]
    assert dbtools.tool_arguments(parse("restore", str(dump / "src"))) == ["--db=src", str(dump / "src")]
    assert dbtools.tool_arguments(parse("import", "--db=d", "--collection=c", "--type=csv", "--headerline",
                                        "--file=x.csv", "--drop")) == \
        ["--db=d", "--collection=c", "--type=csv", "--mode=insert", "--file=x.csv", "--headerline", "--drop"]
    assert dbtools.tool_arguments(parse("export", "-d", "d", "-c", "c", "-o", "f.json")) == \
        ["--db=d", "--collection=c", "--out=f.json"]
