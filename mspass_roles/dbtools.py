"""`mspass-db`: back up, restore, import and export a MsPASS database with one command,
whatever the image holds.

    mspass-db dump    [--db NAME] [--out DIR]                       (mongodump's layout)
    mspass-db restore [--db NAME] [--drop] [DIR]
    mspass-db import  --db NAME --collection NAME [--file F] [--type json|csv|tsv] ...
    mspass-db export  --db NAME --collection NAME [--out F]

With MongoDB's database tools on PATH (mongodump, mongorestore, mongoimport, mongoexport)
each command hands over to them (`--engine auto`, the default); without them (a FerretDB
image, a laptop's venv) it does the same job with pymongo, in the same on-disk formats:
a dump made one way restores the other way. Every run says which one it used.

The database is the one a notebook finds (mspass_roles.client.database_uri: MSPASS_DB_URI,
MSPASS_DB_ADDRESS, MONGODB_PORT), or --uri, or mongoimport's --host/--port. The login is
the URI's, else the roles' own MONGO_INITDB_ROOT_USERNAME/PASSWORD (or their *_FILE forms).
A password never reaches a command line: the tools get the URI in a 0600 --config file.

Status lines go to stderr (as the tools write theirs), so `export` can write data on stdout.
Exit status: 0 done, 1 the server or the data refused, 2 bad options.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import quote, unquote

from .client import database_uri
from .files import write_private
from .probes import redact_uri
from .settings import db_credentials, login_options, with_credentials

TOOLS = {"dump": "mongodump", "restore": "mongorestore", "import": "mongoimport", "export": "mongoexport"}
ENGINES = ("auto", "tools", "pymongo")
IMPORT_TYPES = ("json", "csv", "tsv")
IMPORT_MODES = ("insert", "upsert", "merge", "delete")
#: databases a dump of "everything" leaves out, as mongodump does (admin holds the users)
SERVER_DATABASES = ("admin", "local", "config")
#: a write batch's bounds: memory stays bounded however large the collection (GridFS
#: chunks are 255 kB each: ~64 per batch), and no batch comes near a server's 48 MB message
BATCH_DOCUMENTS = 1000
BATCH_BYTES = 16 * 1024 * 1024
#: MongoDB's largest document: a JSON text longer than this is broken, not unfinished
MAX_DOCUMENT = 16 * 1024 * 1024
DUPLICATE_KEY = 11000
UNAUTHORIZED, AUTHENTICATION_FAILED = 13, 18


class UsageError(Exception):
    """Bad options: exit 2, the message names the option and what is valid."""


class DataError(Exception):
    """The data or the server refused: exit 1."""


# ---------------------------------------------------------------- options
def _port(text: str) -> int:
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r} is not a port; valid: 1-65535")


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: --d must not silently mean --db or --drop
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    conn = common.add_argument_group("connection")
    conn.add_argument("--uri", help="mongodb:// URI (default: the notebook's, from MSPASS_DB_URI or "
                      "MSPASS_DB_ADDRESS and MONGODB_PORT)")
    conn.add_argument("--host", help="database host, HOST:PORT or SET/HOST1,HOST2 (mongoimport's form)")
    conn.add_argument("--port", type=_port, help="database port (with --host; default MONGODB_PORT or 27017)")
    conn.add_argument("--engine", choices=ENGINES, default="auto",
                      help="auto: MongoDB's tool when it is on PATH, else pymongo (default auto)")

    parser = argparse.ArgumentParser(
        prog="mspass-db", allow_abbrev=False,
        description="Back up, restore, import and export a MsPASS database: with MongoDB's database tools "
                    "when they are on PATH, else with pymongo in the same formats.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("dump", parents=[common], allow_abbrev=False,
                       help="write databases as DIR/DB/COLLECTION.bson + .metadata.json (mongodump)")
    p.add_argument("-d", "--db", help="only this database (default: all but admin, local, config)")
    p.add_argument("-o", "--out", default="dump", help="output directory (default ./dump)")

    p = sub.add_parser("restore", parents=[common], allow_abbrev=False,
                       help="load a dump made by `mspass-db dump` or mongodump (mongorestore)")
    p.add_argument("-d", "--db", help="only this database of the dump, or a new name for a dump's one database")
    p.add_argument("--drop", action="store_true", help="drop each collection before restoring it")
    p.add_argument("dir", nargs="?", default="dump", metavar="DIR",
                   help="the dump directory, or one database's directory in it (default ./dump)")

    p = sub.add_parser("import", parents=[common], allow_abbrev=False,
                       help="load a JSON, CSV or TSV file into a collection (mongoimport)")
    p.add_argument("-d", "--db", required=True, help="database")
    p.add_argument("-c", "--collection", required=True, help="collection")
    p.add_argument("--file", help="input file (default: standard input)")
    p.add_argument("--type", choices=IMPORT_TYPES, default="json", help="json (default), csv or tsv")
    p.add_argument("--headerline", action="store_true", help="csv/tsv: the first line names the fields")
    p.add_argument("-f", "--fields", help="csv/tsv: comma-separated field names (instead of --headerline)")
    p.add_argument("--jsonArray", action="store_true", help="json: the file is one JSON array of documents")
    p.add_argument("--ignoreBlanks", action="store_true", help="csv/tsv: leave empty values out")
    p.add_argument("--drop", action="store_true", help="drop the collection first")
    p.add_argument("--mode", choices=IMPORT_MODES, default="insert",
                   help="insert (default); upsert: replace by _id; merge: update fields by _id; delete by _id")

    p = sub.add_parser("export", parents=[common], allow_abbrev=False,
                       help="write a collection as extended JSON, one document a line (mongoexport)")
    p.add_argument("-d", "--db", required=True, help="database")
    p.add_argument("-c", "--collection", required=True, help="collection")
    p.add_argument("-o", "--out", help="output file (default: standard output)")
    p.add_argument("-q", "--query", help="a filter as extended JSON, e.g. '{\"sta\": \"A01\"}'")
    p.add_argument("--jsonArray", action="store_true", help="one JSON array instead of one document a line")
    return parser


def check(args: argparse.Namespace) -> None:
    """What argparse cannot say alone; UsageError names the option and what is valid."""
    if args.uri and (args.host or args.port):
        raise UsageError("--uri and --host/--port both given; valid: one of them")
    if args.uri and not re.match(r"mongodb(\+srv)?://", args.uri):
        raise UsageError(f"--uri {redact_uri(args.uri)!r} is not a MongoDB URI; valid: mongodb://HOST:PORT/ "
                         "or mongodb+srv://HOST/")
    for option in ("db", "collection"):
        value = getattr(args, option, None)
        if value is not None:
            problem = name_problem(value, option)
            if problem:
                raise UsageError(f"--{option} {value!r}: {problem}")
    if args.command == "import":
        tabular = args.type in ("csv", "tsv")
        if tabular and not (args.headerline or args.fields):
            raise UsageError(f"--type {args.type} needs --headerline or --fields NAME,NAME,...")
        if tabular and args.headerline and args.fields:
            raise UsageError("--headerline and --fields both given; valid: one of them")
        if not tabular and (args.headerline or args.fields or args.ignoreBlanks):
            raise UsageError("--headerline, --fields and --ignoreBlanks are for --type csv or tsv")
        if tabular and args.jsonArray:
            raise UsageError("--jsonArray is for --type json")
        if args.file and args.file != "-" and not Path(args.file).is_file():
            raise UsageError(f"--file {args.file!r} is not a readable file")
    if args.command == "restore" and not Path(args.dir).is_dir():
        raise UsageError(f"DIR {args.dir!r} is not a directory; valid: a dump directory (default ./dump)")
    if args.command == "export" and args.query:
        try:
            parse_query(args.query)
        except ValueError as err:
            raise UsageError(f"--query is not an extended-JSON document: {err}") from None


def name_problem(name: str, what: str) -> str | None:
    """Why MongoDB would refuse this database or collection name; None when it is fine."""
    if not name:
        return "empty"
    bad = '/\\. "$\0' if what == "db" else "$\0"
    found = sorted({c for c in name if c in bad})
    if found:
        return f"contains {', '.join(repr(c) for c in found)}; valid: a name without {' '.join(repr(c) for c in bad)}"
    if what == "db" and len(name) > 63:
        return "longer than 63 characters"
    return None


def parse_query(text: str) -> dict:
    from bson import json_util

    found = json_util.loads(text)
    if not isinstance(found, dict):
        raise ValueError("not a document")
    return found


# ---------------------------------------------------------------- connection
def target_uri(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """--uri, else --host/--port, else the notebook's URI (database_uri)."""
    if args.uri:
        return args.uri
    if not (args.host or args.port):
        return database_uri(env)
    host, port = args.host, args.port
    if host and "://" in host:
        return host
    if host and "/" in host:  # SET/HOST1,HOST2: a replica set, as mongoimport's --host takes it
        name, hosts = host.split("/", 1)
        if port:
            hosts = ",".join(h if ":" in h else f"{h}:{port}" for h in hosts.split(","))
        return f"mongodb://{hosts}/?replicaSet={name}"
    if host and port is None and re.fullmatch(r"[^:\[\]]+:\d+", host):
        host, port = host.rsplit(":", 1)
    base = {k: v for k, v in env.items() if k != "MSPASS_DB_URI"}  # the address given wins
    if host:
        base["MSPASS_DB_ADDRESS"] = host
    if port:
        base["MONGODB_PORT"] = str(port)
    return database_uri(base)


def has_login(uri: str) -> bool:
    return re.match(r"mongodb(\+srv)?://[^/@]*@", uri) is not None


def credentials(uri: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """The roles' login (MONGO_INITDB_ROOT_*), unless the URI carries its own."""
    if has_login(uri):
        return None
    try:
        return db_credentials(env)
    except ValueError as err:  # e.g. an unreadable *_FILE; the message names the variable
        raise UsageError(str(err)) from None


def connect(uri: str, login: tuple[str, str] | None):
    import pymongo

    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=20000, **login_options(login))


# ---------------------------------------------------------------- MongoDB's tools
def choose_tool(command: str, engine: str) -> str | None:
    """The tool's path when it runs the command; None for pymongo."""
    if engine == "pymongo":
        return None
    path = shutil.which(TOOLS[command])
    if path is None and engine == "tools":
        raise UsageError(f"--engine tools: {TOOLS[command]} is not on PATH; valid: auto (pymongo without it), "
                         "pymongo")
    return path


def tool_arguments(args: argparse.Namespace) -> list[str]:
    """The tool's options for these arguments (the URI goes in the --config file)."""
    out: list[str] = []
    if args.command == "dump":
        out += [f"--out={args.out}"] + ([f"--db={args.db}"] if args.db else [])
    elif args.command == "restore":
        if args.drop:
            out.append("--drop")
        layout = dump_layout(Path(args.dir), args.db)
        if layout.single:  # one database's directory: mongorestore takes it with --db
            out += [f"--db={layout.plan[0][1]}", args.dir]
        elif args.db and layout.plan[0][0] != args.db:  # the dump's one database, renamed
            out += [f"--nsFrom={layout.plan[0][0]}.*", f"--nsTo={args.db}.*", args.dir]
        else:
            out += ([f"--nsInclude={args.db}.*"] if args.db else []) + [args.dir]
    elif args.command == "import":
        out += [f"--db={args.db}", f"--collection={args.collection}", f"--type={args.type}", f"--mode={args.mode}"]
        out += [f"--file={args.file}"] if args.file and args.file != "-" else []
        out += [f"--fields={args.fields}"] if args.fields else []
        out += [f"--{flag}" for flag in ("headerline", "jsonArray", "ignoreBlanks", "drop") if getattr(args, flag)]
    elif args.command == "export":
        out += [f"--db={args.db}", f"--collection={args.collection}"]
        out += [f"--out={args.out}"] if args.out else []
        out += [f"--query={args.query}"] if args.query else []
        out += ["--jsonArray"] if args.jsonArray else []
    return out


@contextmanager
def tool_config(uri: str) -> Iterator[Path]:
    """A YAML --config file (mode 0600, in a private directory, removed after) holding the
    URI: the tools read passwords from it, so none is on a command line (ps, /proc)."""
    directory = Path(tempfile.mkdtemp(prefix="mspass-db-"))  # mode 0700
    path = directory / "config.yaml"
    try:
        write_private(path, f"uri: {json.dumps(uri)}\n", exclusive=True)  # JSON strings are YAML strings
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_tool(tool: str, args: argparse.Namespace, uri: str) -> int:
    with tool_config(uri) as config:
        argv = [tool, f"--config={config}", *tool_arguments(args)]
        say(f"running {' '.join(argv[:1] + argv[2:])}")
        return subprocess.run(argv, stdin=None if args.command == "import" else subprocess.DEVNULL).returncode


# ---------------------------------------------------------------- dump
def collection_file(name: str) -> str:
    """The collection's file name as mongodump writes it (Go's url.PathEscape)."""
    return quote(name, safe="$&+,;=:@")


def collection_name(file_stem: str) -> str:
    return unquote(file_stem)


def metadata_json(name: str, options: Mapping[str, Any], indexes: Iterable[Mapping[str, Any]],
                  kind: str = "collection") -> str:
    """mongodump's COLLECTION.metadata.json: canonical extended JSON, so types survive."""
    from bson import json_util

    specs = [{k: v for k, v in index.items() if k != "ns"} for index in indexes]  # ns: pre-4.4 servers only
    document = {"indexes": specs, "options": dict(options), "collectionName": name, "type": kind}
    return json_util.dumps(document, json_options=json_util.CANONICAL_JSON_OPTIONS)


def dump_pymongo(client, databases: list[str], out: Path) -> tuple[int, int, int]:
    """Each collection's documents as their raw BSON, byte for byte, and its metadata.
    Returns (collections, documents, bytes)."""
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument

    raw = CodecOptions(document_class=RawBSONDocument)
    totals = [0, 0, 0]
    for db_name in databases:
        db = client[db_name]
        folder = out / db_name
        folder.mkdir(parents=True, exist_ok=True)
        for info in sorted(db.list_collections(), key=lambda i: i["name"]):
            name, kind = info["name"], info.get("type", "collection")
            if name.startswith("system."):
                continue
            coll = db[name]
            stem = collection_file(name)
            if kind == "view":  # a view is its definition: metadata only, as mongodump does
                (folder / f"{stem}.metadata.json").write_text(metadata_json(name, info.get("options", {}), [], kind))
                say(f"dumped view {db_name}.{name}")
                continue
            count = size = 0
            with open(folder / f"{stem}.bson", "wb") as f:
                for doc in coll.with_options(codec_options=raw).find():
                    f.write(doc.raw)
                    count += 1
                    size += len(doc.raw)
            (folder / f"{stem}.metadata.json").write_text(
                metadata_json(name, info.get("options", {}), coll.list_indexes(), kind))
            say(f"dumped {db_name}.{name}: {count} documents, {human(size)}")
            totals = [totals[0] + 1, totals[1] + count, totals[2] + size]
    return totals[0], totals[1], totals[2]


def dump_databases(client, wanted: str | None) -> list[str]:
    names = client.list_database_names()
    if wanted is None:
        return sorted(n for n in names if n not in SERVER_DATABASES)
    if wanted not in names:
        raise DataError(f"--db {wanted!r}: no such database on the server; valid: {', '.join(sorted(names)) or 'none'}")
    return [wanted]


# ---------------------------------------------------------------- restore
class Layout:
    """What a dump directory holds: plan = [(database in the dump, target, its folder)];
    `single`: DIR is one database's folder (its .bson files directly in it)."""

    def __init__(self, plan: list[tuple[str, str, Path]], single: bool):
        self.plan, self.single = plan, single


def _holds_collections(folder: Path) -> bool:
    return any(folder.glob("*.bson")) or any(folder.glob("*.metadata.json"))


def dump_layout(directory: Path, wanted: str | None) -> Layout:
    if _holds_collections(directory):
        source = directory.name
        return Layout([(source, wanted or source, directory)], single=True)
    found = sorted(p.name for p in directory.iterdir() if p.is_dir() and _holds_collections(p))
    if not found:
        raise UsageError(f"DIR {str(directory)!r} holds no dump (no DB/COLLECTION.bson files); valid: a directory "
                         "written by `mspass-db dump` or mongodump")
    if wanted is None:
        return Layout([(name, name, directory / name) for name in found], single=False)
    if wanted in found:
        return Layout([(wanted, wanted, directory / wanted)], single=False)
    if len(found) == 1:  # the dump's one database, restored under another name
        return Layout([(found[0], wanted, directory / found[0])], single=False)
    raise UsageError(f"--db {wanted!r} is not in the dump, which holds {', '.join(found)}; valid: one of those, "
                     "or any name for a dump of one database")


def restore_pymongo(client, layout: Layout, drop: bool) -> tuple[int, int, int, int]:
    """Returns (collections, documents restored, bytes, documents refused as duplicates)."""
    from bson import decode_file_iter, json_util
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument

    raw = CodecOptions(document_class=RawBSONDocument)
    totals = [0, 0, 0, 0]
    for source, target, folder in layout.plan:
        db = client[target]
        stems = sorted({p.name[:-len(".bson")] for p in folder.glob("*.bson")}
                       | {p.name[:-len(".metadata.json")] for p in folder.glob("*.metadata.json")})
        existing = set(db.list_collection_names())
        for stem in stems:
            name = collection_name(stem)
            if name.startswith("system."):
                continue
            meta_path, data_path = folder / f"{stem}.metadata.json", folder / f"{stem}.bson"
            meta = json_util.loads(meta_path.read_text()) if meta_path.exists() else {}
            if drop and name in existing:
                db.drop_collection(name)
                existing.discard(name)
            if name not in existing:  # with its options (capped, validator, a view's pipeline)
                db.create_collection(name, **meta.get("options", {}))
            count = size = duplicates = 0
            if data_path.exists():
                coll = db.get_collection(name, codec_options=raw)
                with open(data_path, "rb") as f:
                    for batch, batch_bytes in batches(decode_file_iter(f, raw), lambda d: len(d.raw)):
                        done, refused = insert(coll, batch)
                        count, duplicates, size = count + done, duplicates + refused, size + batch_bytes
            # indexes after the data, as mongorestore does: one build instead of one per insert
            specs = [{k: v for k, v in index.items() if k not in ("v", "ns")}
                     for index in meta.get("indexes", []) if index.get("name") != "_id_"]
            if specs:
                db.command("createIndexes", name, indexes=specs)
            shown = f"{source}.{name}" + (f" as {target}.{name}" if target != source else "")
            of = f" of {count + duplicates}" if duplicates else ""
            refused = f"; {duplicates} were there already (same _id; --drop replaces them)" if duplicates else ""
            say(f"restored {shown}: {count}{of} documents ({human(size)}), {plural(len(specs), 'index', 'indexes')}"
                f"{refused}")
            totals = [totals[0] + 1, totals[1] + count, totals[2] + size, totals[3] + duplicates]
    return totals[0], totals[1], totals[2], totals[3]


def batches(docs: Iterable, size_of) -> Iterator[tuple[list, int]]:
    """Lists of documents bounded by BATCH_DOCUMENTS and BATCH_BYTES, with their bytes."""
    batch, total = [], 0
    for doc in docs:
        batch.append(doc)
        total += size_of(doc)
        if len(batch) >= BATCH_DOCUMENTS or total >= BATCH_BYTES:
            yield batch, total
            batch, total = [], 0
    if batch:
        yield batch, total


def insert(coll, docs: list) -> tuple[int, int]:
    """Insert, going on past documents whose _id is already there (mongorestore does too);
    (inserted, duplicates). Any other refusal is an error."""
    from pymongo.errors import BulkWriteError

    try:
        coll.insert_many(docs, ordered=False)
        return len(docs), 0
    except BulkWriteError as err:
        duplicates = _duplicates(err)
        return err.details.get("nInserted", len(docs) - duplicates), duplicates


def _duplicates(err) -> int:
    """How many writes a BulkWriteError refused for a duplicate _id; DataError for any
    other refusal (a validator, a full disk): that one is not to be passed over."""
    errors = err.details.get("writeErrors", [])
    others = [e for e in errors if e.get("code") != DUPLICATE_KEY] + err.details.get("writeConcernErrors", [])
    if others:
        raise DataError(f"the server refused a document: {others[0].get('errmsg', others[0])}") from None
    return len(errors)


# ---------------------------------------------------------------- import
def auto_value(text: str) -> Any:
    """A CSV/TSV value as mongoimport types it: an integer (int32, else int64), else a
    float, else the string (Go's strconv rules: no spaces, no underscores, no overflow)."""
    from bson.int64 import Int64

    if not text or text != text.strip() or "_" in text or not text.isascii():
        return text
    if re.fullmatch(r"[+-]?[0-9]+", text):
        number = int(text)
        if -2**31 <= number < 2**31:
            return number
        if -2**63 <= number < 2**63:
            return Int64(number)
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isinf(number) and not re.fullmatch(r"[+-]?inf(inity)?", text, re.IGNORECASE):
        return text  # out of range: Go's ParseFloat fails, the value stays a string
    return number


def row_document(names: list[str], row: list[str], ignore_blanks: bool) -> dict:
    """One CSV/TSV row: NAME.PART fields become nested documents, values typed by auto_value;
    values past the named fields are named fieldN (as mongoimport names them)."""
    doc: dict[str, Any] = {}
    for i, text in enumerate(row):
        if ignore_blanks and text == "":
            continue
        name = names[i] if i < len(names) else f"field{i}"
        *parents, last = name.split(".")
        place = doc
        for part in parents:
            place = place.setdefault(part, {})
        place[last] = auto_value(text)
    return doc


def tabular_documents(stream: io.TextIOBase, kind: str, fields: str | None, ignore_blanks: bool) -> Iterator[dict]:
    # TSV as mongoimport reads it: fields split on tabs, no quoting
    reader = csv.reader(stream) if kind == "csv" else csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
    names = [f.strip() for f in fields.split(",")] if fields else None
    for row in reader:
        if names is None:
            names = row
            continue
        if row:
            yield row_document(names, row, ignore_blanks)


def json_documents(stream: io.TextIOBase, array: bool) -> Iterator[dict]:
    """Extended JSON (relaxed or canonical): a stream of documents, usually one a line, or
    one array. A document may span lines; one longer than MongoDB's 16 MB is an error."""
    from bson import json_util

    decoder = json.JSONDecoder(object_pairs_hook=json_util.object_pairs_hook)
    if array:
        try:
            found = decoder.decode(stream.read())
        except ValueError as err:
            raise DataError(f"--jsonArray: the file is not a JSON array: {err}") from None
        if not isinstance(found, list):
            raise DataError("--jsonArray: the file is not a JSON array")
        yield from (_document(d, "array element") for d in found)
        return
    pending, start, line_no = "", 0, 0
    for line in stream:
        line_no += 1
        if not pending.strip():
            pending, start = "", line_no
        pending += line
        while pending.strip():
            text = pending.lstrip()
            try:
                found, end = decoder.raw_decode(text)
            except ValueError as err:
                if len(pending) > MAX_DOCUMENT:
                    raise DataError(f"line {start}: not extended JSON: {err}") from None
                break  # perhaps unfinished: the next line may complete it
            yield _document(found, f"line {start}")
            pending, start = text[end:], line_no
    if pending.strip():
        try:
            decoder.raw_decode(pending.lstrip())
        except ValueError as err:
            raise DataError(f"line {start}: not extended JSON: {err}") from None


def _document(found: Any, where: str) -> dict:
    if not isinstance(found, dict):
        raise DataError(f"{where}: {type(found).__name__} is not a document; valid: {{...}}")
    return found


def import_pymongo(client, args: argparse.Namespace, stream: io.TextIOBase) -> tuple[int, int, int]:
    """Returns (documents written, bytes, refused as duplicates)."""
    import bson
    from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne
    from pymongo.errors import BulkWriteError

    coll = client[args.db][args.collection]
    if args.drop:
        coll.drop()
    if args.type == "json":
        docs = json_documents(stream, args.jsonArray)
    else:
        docs = tabular_documents(stream, args.type, args.fields, args.ignoreBlanks)

    def operation(doc: dict):
        if "_id" not in doc or args.mode == "insert":
            return None if args.mode == "delete" else InsertOne(doc)
        if args.mode == "upsert":
            return ReplaceOne({"_id": doc["_id"]}, doc, upsert=True)
        if args.mode == "merge":
            return UpdateOne({"_id": doc["_id"]}, {"$set": {k: v for k, v in doc.items() if k != "_id"}}, upsert=True)
        return DeleteOne({"_id": doc["_id"]})

    written = size = duplicates = 0
    for batch, batch_bytes in batches(docs, lambda d: len(bson.encode(d))):
        ops = [op for op in map(operation, batch) if op is not None]
        if not ops:
            continue
        try:
            result = coll.bulk_write(ops, ordered=False)
            done, refused = _counted(result.bulk_api_result), 0
        except BulkWriteError as err:
            done, refused = _counted(err.details), _duplicates(err)
        written, size, duplicates = written + done, size + batch_bytes, duplicates + refused
    return written, size, duplicates


def _counted(result: Mapping[str, Any]) -> int:
    return sum(result.get(k, 0) for k in ("nInserted", "nUpserted", "nModified", "nRemoved"))


# ---------------------------------------------------------------- export
def export_pymongo(client, args: argparse.Namespace, out: io.TextIOBase) -> tuple[int, int]:
    """mongoexport's default: relaxed extended JSON, one document a line. (documents, bytes)"""
    from bson import json_util

    query = parse_query(args.query) if args.query else {}
    count = size = 0
    if args.jsonArray:
        out.write("[")
    for doc in client[args.db][args.collection].find(query):
        text = json_util.dumps(doc, json_options=json_util.RELAXED_JSON_OPTIONS)
        out.write((("," if count else "") + text) if args.jsonArray else text + "\n")
        count, size = count + 1, size + len(text)
    if args.jsonArray:
        out.write("]\n")
    return count, size


# ---------------------------------------------------------------- running
def say(message: str) -> None:
    print(f"mspass-db: {message}", file=sys.stderr, flush=True)


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def human(size: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    check(args)
    uri = target_uri(args, env)
    login = credentials(uri, env)
    tool = choose_tool(args.command, args.engine)
    if tool:
        say(f"using {TOOLS[args.command]} (MongoDB's database tools) on {redact_uri(uri)}")
        return run_tool(tool, args, with_credentials(uri, login))
    why = ("--engine pymongo" if args.engine == "pymongo"
           else f"{TOOLS[args.command]} is not on PATH: MongoDB's database tools are not installed here")
    say(f"using pymongo ({why}) on {redact_uri(uri)}")
    with connect(uri, login) as client:
        if args.command == "dump":
            out = Path(args.out)
            collections, docs, size = dump_pymongo(client, dump_databases(client, args.db), out)
            say(f"dump done: {plural(collections, 'collection', 'collections')}, {docs} documents, {human(size)} "
                f"in {out}")
        elif args.command == "restore":
            layout = dump_layout(Path(args.dir), args.db)
            collections, docs, size, duplicates = restore_pymongo(client, layout, args.drop)
            skipped = f"; {duplicates} documents were there already and were left as they were" if duplicates else ""
            say(f"restore done: {plural(collections, 'collection', 'collections')}, {docs} documents, "
                f"{human(size)}{skipped}")
        elif args.command == "import":
            with _input(args.file) as stream:
                written, size, duplicates = import_pymongo(client, args, stream)
            skipped = f"; {duplicates} refused (their _id is already there)" if duplicates else ""
            say(f"imported {written} documents ({human(size)}) into {args.db}.{args.collection}{skipped}")
        else:
            with _output(args.out) as out:
                count, size = export_pymongo(client, args, out)
            say(f"exported {count} documents ({human(size)}) from {args.db}.{args.collection}")
    return 0


@contextmanager
def _input(path: str | None):
    if not path or path == "-":
        yield sys.stdin
    else:
        with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: spreadsheets write a BOM
            yield f


@contextmanager
def _output(path: str | None):
    if not path or path == "-":
        yield sys.stdout
    else:
        with open(path, "w", encoding="utf-8") as f:
            yield f


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    from pymongo.errors import PyMongoError, ServerSelectionTimeoutError

    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on unknown options and invalid choices
    env = os.environ if env is None else env
    try:
        return run(args, env)
    except UsageError as err:
        print(f"mspass-db {args.command}: error: {err}", file=sys.stderr)
        return 2
    except ServerSelectionTimeoutError as err:  # its text lists the whole topology
        reason = str(err).split(", Timeout:")[0][:200]
        print(f"mspass-db {args.command}: error: cannot reach the database ({reason})", file=sys.stderr)
        return 1
    except (DataError, PyMongoError, OSError) as err:
        print(f"mspass-db {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def one_line(err: BaseException) -> str:
    from pymongo.errors import OperationFailure

    text = str(err).split(", full error:")[0]  # pymongo appends the whole reply
    # FerretDB prefixes its messages with Go call frames
    text = redact_uri(re.sub(r"\[[^\]]*\.go:\d+[^\]]*\]\s*", "", text.splitlines()[0] if text else repr(err)))[:300]
    if isinstance(err, OperationFailure) and err.code == AUTHENTICATION_FAILED:
        text = f"the database refused the login ({text.rstrip('.')}): check the URI's user and password, or " \
               "MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD(_FILE)"
    elif isinstance(err, OperationFailure) and err.code == UNAUTHORIZED:
        text = f"{text.rstrip('.')}: the database requires a login; give it as MSPASS_DB_URI=" \
               "mongodb://USER:PASSWORD@HOST:PORT/ or MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD_FILE"
    return text


if __name__ == "__main__":
    sys.exit(main())
