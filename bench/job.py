"""A fixed small job, the same for dask and Spark: 200 CPU-bound tasks, summed.

Run as a frontend batch script; prints one line the benchmark reads:
JOB connect=SECONDS compute=SECONDS result=N
"""

import time

from mspass_roles.client import get_scheduler, scheduler_kind

TASKS = 200


def work(i: int) -> int:
    return sum(j * j for j in range(20000)) % 1000 + i


t0 = time.monotonic()
handle = get_scheduler()
t1 = time.monotonic()
if scheduler_kind() == "spark":
    result = handle.parallelize(range(TASKS), 20).map(work).sum()
else:
    result = sum(handle.gather(handle.map(work, range(TASKS))))
t2 = time.monotonic()
print(f"JOB connect={t1 - t0:.3f} compute={t2 - t1:.3f} result={result}", flush=True)
