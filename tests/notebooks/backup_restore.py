"""Run inside the image (tests/image/test_dbtools.py): waveforms written by mspasspy, then
`mspass-db dump`, drop, `mspass-db restore`, read back; and `mspass-db import` of JSON lines
and CSV. The last line printed is a JSON summary the test asserts on. The process tier
(tests/process/test_dbtools.py) uses its `synthetic` and `snapshot`.

mspass-db runs with no connection options, as a user would in `docker exec`: it finds the
database as a notebook does (here the all-in-one's own, 127.0.0.1:27017).
"""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

DB = "backup_image"


def synthetic(i: int, npts: int):
    """A TimeSeries of `npts` random samples, different for every i."""
    from mspasspy.ccore.seismic import DoubleVector, TimeSeries

    ts = TimeSeries()
    ts.set_npts(npts)
    ts.set_dt(0.01)
    ts.set_t0(1.7e9 + 60.0 * i)
    ts.data = DoubleVector(np.random.default_rng(i).standard_normal(npts) * 1e3)
    ts.set_live()
    ts["net"], ts["sta"], ts["chan"], ts["index"] = "XX", f"S{i:02d}", "BHZ", i
    return ts


def snapshot(db) -> dict:
    """Counts per collection, a digest of fs.chunks' raw bytes in _id order, and every
    waveform's samples as mspasspy reads them back (by its "index")."""
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument

    counts = {n: db[n].count_documents({}) for n in sorted(db.list_collection_names()) if not n.startswith("system.")}
    chunks = db.get_collection("fs.chunks", codec_options=CodecOptions(document_class=RawBSONDocument))
    digest = hashlib.sha256(b"".join(d.raw for d in chunks.find().sort("_id", 1))).hexdigest()
    samples = {doc["index"]: np.array(db.read_data(doc).data) for doc in db.wf_TimeSeries.find()}
    return {"counts": counts, "chunks_sha256": digest, "samples": samples}


def main() -> None:
    from mspasspy.db.client import DBClient
    from mspasspy.db.database import Database

    from mspass_roles.client import database_uri

    work = Path(tempfile.mkdtemp(prefix="backup-restore-"))
    client = DBClient(database_uri())
    log = []

    def mspass_db(*args: str) -> str:
        done = subprocess.run(["mspass-db", *args], capture_output=True, text=True, timeout=600)
        out = done.stdout + done.stderr
        log.append(f"$ mspass-db {' '.join(args)}  # exit {done.returncode}\n{out}")
        if done.returncode != 0:
            sys.exit("\n".join(log))
        return out

    def engine(out: str) -> str:
        """Which implementation ran, from mspass-db's own line "mspass-db: using X (...)"."""
        return next(line.split("using ", 1)[1].split()[0] for line in out.splitlines() if "mspass-db: using " in line)

    client.drop_database(DB)
    db = Database(client, DB)
    for i, npts in enumerate([2000] * 6 + [100_000]):  # the last one spans 4 GridFS chunks
        db.save_data(synthetic(i, npts), storage_mode="gridfs")
    db.site.insert_many([{"net": "XX", "sta": f"S{i:02d}", "lat": 30.0 + i} for i in range(4)])
    before = snapshot(db)

    dump = work / "dump"
    dumped = mspass_db("dump", "--db", DB, "--out", str(dump))
    client.drop_database(DB)
    dropped = DB not in client.list_database_names()
    restored = mspass_db("restore", str(dump))
    after = snapshot(Database(client, DB))
    worst = max(float(np.abs(after["samples"][i] - want).max()) if after["samples"][i].shape == want.shape
                else float("inf") for i, want in before["samples"].items())

    source = work / "source.json"
    source.write_text('{"_id": 1, "lat": 34.5, "depth": 10, "time": {"$date": "2011-03-11T05:46:24Z"}}\n'
                      '{"_id": {"$numberInt": "2"}, "lat": {"$numberDouble": "35.0"}, "depth": {"$numberLong": "7"}}\n')
    imported = mspass_db("import", "--db=usarray48", "--collection=source", f"--file={source}", "--drop")
    arrival = work / "arrival.csv"
    arrival.write_text("sta,phase,time,snr\nA01,P,1300000010.25,12\nB02,S,1300000020.5,3\n")
    mspass_db("import", "--db", "usarray48", "--collection", "arrival", "--type", "csv", "--headerline",
              "--file", str(arrival), "--drop")
    sources = list(client["usarray48"]["source"].find().sort("_id", 1))
    arrivals = list(client["usarray48"]["arrival"].find({}, {"_id": 0}).sort("sta", 1))
    client.drop_database("usarray48")
    client.drop_database(DB)
    shutil.rmtree(work)

    print("\n".join(log))
    print(json.dumps({
        "tools_on_path": shutil.which("mongodump") is not None,
        "engines": [engine(dumped), engine(restored), engine(imported)],
        "dropped": dropped,
        "counts_before": before["counts"],
        "counts_after": after["counts"],
        "chunks_equal": before["chunks_sha256"] == after["chunks_sha256"],
        "waveforms": sorted(after["samples"]),
        "max_abs_difference": worst,
        "source": [{k: [type(v).__name__, str(v)] for k, v in d.items()} for d in sources],
        "arrival": [{k: [type(v).__name__, v] for k, v in d.items()} for d in arrivals],
    }))


if __name__ == "__main__":
    main()
