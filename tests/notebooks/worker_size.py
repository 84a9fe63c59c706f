"""Print the dask workers' threads and memory limit (used to check they fit the container)."""

from mspass_roles.client import get_scheduler

workers = get_scheduler().scheduler_info(n_workers=-1)["workers"].values()
print("workers:", [(w["nthreads"], w["memory_limit"]) for w in workers])
