"""The roundtrip notebook as a plain script: dask tasks write documents, we read them back."""

import os
import sys

import pymongo
from dask.distributed import Client

n_tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def square(i):
    return i * i


client = Client()  # DASK_SCHEDULER_ADDRESS, exported by the frontend
values = client.gather(client.map(square, range(n_tasks)))
coll = pymongo.MongoClient(os.environ["MSPASS_DB_URI"])["mspass_test"]["script"]
coll.delete_many({})
coll.insert_many([{"_id": i, "value": v} for i, v in enumerate(values)])
total = sum(d["value"] for d in coll.find())
assert total == sum(i * i for i in range(n_tasks)), total
print(f"script ok: {n_tasks} documents, total {total}")
