"""The database engine on MsPASS's access pattern, side by side for every engine this machine
can run: FerretDB v1.24.0 with the project's patches (what the image runs), with patches
01-05 only (what the image ran before 06-08, which made updates fast), the same FerretDB
release as published (no patches), and mongod where it is installed. The FerretDB variants
are built into a temporary directory by scripts/build/ferretdb/build-ferretdb.sh
(FERRETDB_PATCHES; the Go caches make that quick).

Stages, each a child process with a deadline against a fresh `mspass-role db`:
  client            mspasspy.client.Client() (it creates the history text index)
  save              save_data of N TimeSeries through GridFS, one after another
  read              read_data of the same N, one after another
  normalize         bulk_normalize of 1000 wf_miniseed documents with a channel matcher: one
                    update command of 1000 UpdateOne statements
  update 1000       one bulk_write of 1000 UpdateOne by _id (ObjectId) in a collection of 1000
  update_many 4000  one update_many ($inc) of 4000 documents selected by an indexed field
  dask read         read_distributed_data of the N on 2 dask worker processes (concurrent readers)
A stage that fails or passes its deadline is reported so; nothing waits forever.

    python bench/engine.py [--n N] [--npts N] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, environment, start_role, stop, wait_ready  # noqa: E402

STAGES = ("client", "save", "read", "normalize", "update 1000", "update_many 4000", "dask read")
#: documents each stage must have done (default: the N TimeSeries)
EXPECTED = {"client": 1, "normalize": 1000, "update 1000": 1000, "update_many 4000": 4000}
#: the FerretDB variants: name, FERRETDB_PATCHES (build-ferretdb.sh)
FERRETDB_VARIANTS = (("FerretDB, patched", "all"), ("FerretDB, patches 01-05", "..05"),
                     ("FerretDB, as released", "none"))


# ---------------------------------------------------------------------- stages (child process)
def connect(port: str):
    from mspasspy.db.client import DBClient
    from mspasspy.db.database import Database

    return Database(DBClient(f"127.0.0.1:{port}"), "bench")


def synthetic(i: int, npts: int):
    import numpy as np
    from mspasspy.ccore.seismic import DoubleVector, TimeSeries

    ts = TimeSeries()
    ts.set_npts(npts)
    ts.set_dt(0.01)
    ts.set_t0(1.7e9 + i)
    ts.data = DoubleVector(np.sin(np.arange(npts) * 0.01 * (i + 1)))
    ts.set_live()
    ts["net"], ts["sta"], ts["chan"], ts["index"] = "XX", f"S{i:04d}", "BHZ", i
    return ts


def run_stage(stage: str, port: str, n: int, npts: int) -> dict:
    """Do one stage; return what it did (checked by the parent) and its seconds, imports
    and set-up excluded."""
    import mspasspy.db.database  # noqa: F401  (imports take seconds: not the engine's)

    start = time.monotonic()
    result = stage_work(stage, port, n, npts)
    result.setdefault("seconds", time.monotonic() - start)
    return result


def stage_work(stage: str, port: str, n: int, npts: int) -> dict:
    if stage == "client":
        os.environ.update({"MSPASS_DB_ADDRESS": "127.0.0.1", "MONGODB_PORT": port, "MSPASS_SCHEDULER": "none"})
        from mspasspy.client import Client

        Client(database_name="bench")
        return {"done": 1}
    db = connect(port)
    if stage == "save":
        for i in range(n):
            db.save_data(synthetic(i, npts), storage_mode="gridfs", data_tag="bench")
        return {"done": db.wf_TimeSeries.count_documents({"data_tag": "bench"})}
    if stage == "read":
        docs = list(db.wf_TimeSeries.find({"data_tag": "bench"}))
        return {"done": sum(db.read_data(d).npts == npts for d in docs)}
    if stage == "normalize":
        from mspasspy.db.normalize import MiniseedMatcher, bulk_normalize

        db.drop_collection("channel")
        db.drop_collection("wf_miniseed")
        db.channel.insert_many([{"net": "XX", "sta": f"S{i:04d}", "chan": "BHZ", "loc": "00", "starttime": 0.0,
                                 "endtime": 2e9, "lat": 0.0, "lon": 0.0, "elev": 0.0, "hang": 0.0, "vang": 0.0}
                                for i in range(1000)])
        db.wf_miniseed.insert_many([{"net": "XX", "sta": f"S{i:04d}", "chan": "BHZ", "loc": "00",
                                     "starttime": 1e9} for i in range(1000)])
        start = time.monotonic()
        counts = bulk_normalize(db, matcher_list=[MiniseedMatcher(db)])
        return {"done": counts[1], "seconds": time.monotonic() - start}
    if stage in ("update 1000", "update_many 4000"):
        import pymongo  # plain collections: mspasspy's Database[name] is not one

        coll = pymongo.MongoClient(f"127.0.0.1:{port}")["bench"][stage.replace(" ", "_")]
    if stage == "update 1000":
        coll.drop()
        ids = coll.insert_many([{"sta": f"S{i:04d}", "n": 0} for i in range(1000)]).inserted_ids
        start = time.monotonic()
        result = coll.bulk_write([pymongo.UpdateOne({"_id": i}, {"$set": {"n": 1}}) for i in ids])
        return {"done": result.modified_count, "seconds": time.monotonic() - start}
    if stage == "update_many 4000":
        coll.drop()
        coll.create_index("data_tag")
        coll.insert_many([{"sta": f"S{i:04d}", "data_tag": "bench", "n": 0} for i in range(4000)])
        start = time.monotonic()
        result = coll.update_many({"data_tag": "bench"}, {"$inc": {"n": 1}})
        return {"done": result.modified_count, "seconds": time.monotonic() - start}
    if stage == "dask read":
        from dask.distributed import Client as DaskClient, LocalCluster
        from mspasspy.io.distributed import read_distributed_data

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                DaskClient(cluster) as dask_client:
            start = time.monotonic()
            bag = read_distributed_data(db, query={"data_tag": "bench"}, npartitions=8)
            total = bag.map(lambda d: d.npts).sum().compute(scheduler=dask_client)
            return {"done": total // npts, "seconds": time.monotonic() - start}
    raise SystemExit(f"unknown stage {stage!r}")


# ---------------------------------------------------------------------- engines (parent)
def engines(tmp: Path) -> list[tuple[str, dict[str, str]]]:
    """(name, environment) for each engine this machine can run."""
    found = []
    if shutil.which("go"):
        for name, patches in FERRETDB_VARIANTS:
            where = tmp / f"ferretdb-{patches.strip('.')}"
            build = subprocess.run([str(REPO / "scripts" / "build" / "ferretdb" / "build-ferretdb.sh"), str(where / "ferretdb")],
                                   env={**os.environ, "FERRETDB_PATCHES": patches}, capture_output=True, text=True)
            if build.returncode == 0:
                found.append((name, {"PATH": f"{where}:{os.environ['PATH']}", "MSPASS_DB_ENGINE": "ferretdb"}))
            else:
                print(f"({name} not built: {build.stderr.strip()[-300:]})")
    elif (REPO / ".build" / "bin" / "ferretdb").is_file():  # the image's, without the others
        print("(no 'go' on PATH: only the installed FerretDB, .build/bin/ferretdb)")
        found.append(("FerretDB, patched", {"PATH": f"{REPO / '.build' / 'bin'}:{os.environ['PATH']}",
                                            "MSPASS_DB_ENGINE": "ferretdb"}))
    if shutil.which("mongod"):
        found.append(("mongod", {"MSPASS_DB_ENGINE": "mongodb"}))
    return found


def measure(engine_env: dict[str, str], tmp: Path, opts) -> dict[str, tuple[str, float | None]]:
    """stage -> (what it did, its seconds when it did it right)"""
    env = {**environment(tmp), **engine_env}
    out = tmp / "db.out"
    db = start_role(["db"], env, out)
    cells = {}
    try:
        wait_ready(db, env)
        for stage in STAGES:
            argv = [sys.executable, __file__, "--stage", stage, "--port", env["MONGODB_PORT"],
                    "--n", str(opts.n), "--npts", str(opts.npts)]
            try:
                child = subprocess.run(argv, capture_output=True, text=True, timeout=opts.timeout, env=env)
            except subprocess.TimeoutExpired:
                cells[stage] = (f"no answer in {opts.timeout:g} s", None)
                continue
            if child.returncode:
                last = (child.stderr.strip().splitlines() or ["?"])[-1]
                cells[stage] = (f"fails: {last.split(':')[0].split('.')[-1]}", None)  # the exception's name
                continue
            result = json.loads(child.stdout.strip().splitlines()[-1])
            expected = EXPECTED.get(stage, opts.n)
            seconds = result["seconds"]
            if result["done"] != expected:
                cells[stage] = (f"wrong: {result['done']} of {expected}", None)
                continue
            rate = f" ({opts.n / seconds:.0f}/s)" if stage in ("save", "read", "dask read") else ""
            cells[stage] = (f"{seconds:.2f} s{rate}", seconds)
    finally:
        stop(db)
    return cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="TimeSeries saved and read (default 200)")
    parser.add_argument("--npts", type=int, default=10000, help="samples each (default 10000)")
    parser.add_argument("--timeout", type=float, default=120, help="deadline of one stage, seconds (default 120)")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--port", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.stage:
        print(json.dumps(run_stage(opts.stage, opts.port, opts.n, opts.npts)))
        return 0
    results = {}
    with tempfile.TemporaryDirectory(prefix="mspass-bench-engine-") as tmp:
        for name, engine_env in engines(Path(tmp)):
            with tempfile.TemporaryDirectory(dir=tmp) as run:
                results[name] = measure(engine_env, Path(run), opts)
            print(f"{name}: " + "; ".join(f"{s} {v[0]}" for s, v in results[name].items()), flush=True)
    print(f"\nengines on MsPASS's access pattern ({opts.n} TimeSeries x {opts.npts} samples; seconds of each stage, imports excluded)")
    names = list(results)
    print(f"  {'stage':<18}" + "".join(f"{n:>36}" for n in names))
    for stage in STAGES:
        base = results[names[0]][stage][1]
        row = []
        for n in names:
            text, seconds = results[n][stage]
            if n != names[0] and base and seconds:
                text += f" {seconds / base:.2f}x"  # beside the first engine
            row.append(f" {text:>35}")
        print(f"  {stage:<18}" + "".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
