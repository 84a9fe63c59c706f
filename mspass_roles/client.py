"""Client-side helpers for notebooks: the services, found through the environment the
frontend exports (the same variables mspasspy.client.Client() reads).

    from mspass_roles.client import get_scheduler, get_database_client
    sc_or_dask = get_scheduler()          # dask.distributed.Client or pyspark.SparkContext
    db = get_database_client()["mydb"]    # pymongo
"""

from __future__ import annotations

import os
from typing import Mapping

from .settings import DEFAULT_PORTS


def scheduler_kind(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("MSPASS_SCHEDULER", "dask") or "dask"


def database_uri(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if env.get("MSPASS_DB_URI"):
        return env["MSPASS_DB_URI"]
    host = env.get("MSPASS_DB_ADDRESS", "127.0.0.1")
    address = host if host.startswith("mongodb://") else f"mongodb://{host}"  # with credentials: a URI
    return f"{address}:{env.get('MONGODB_PORT', DEFAULT_PORTS['MONGODB_PORT'])}/"


def get_database_client(env: Mapping[str, str] | None = None, **kwargs):
    import pymongo

    return pymongo.MongoClient(database_uri(env), **kwargs)


def get_scheduler(env: Mapping[str, str] | None = None, app_name: str = "mspass"):
    """A dask Client or a SparkContext for MSPASS_SCHEDULER; an error for `none`."""
    env = os.environ if env is None else env
    kind = scheduler_kind(env)
    if kind == "dask":
        from distributed import Client

        address = env.get("DASK_SCHEDULER_ADDRESS")
        if not address and env.get("MSPASS_SCHEDULER_ADDRESS"):
            port = env.get("DASK_SCHEDULER_PORT", DEFAULT_PORTS["DASK_SCHEDULER_PORT"])
            host = env["MSPASS_SCHEDULER_ADDRESS"]
            address = f"{host if '://' in host else 'tcp://' + host}:{port}"
        return Client(address) if address else Client()
    if kind == "spark":
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName(app_name)
        if not env.get("SPARK_CONF_DIR") and env.get("SPARK_MASTER_URL"):  # outside the frontend
            builder = builder.master(env["SPARK_MASTER_URL"])
        return builder.getOrCreate().sparkContext
    raise RuntimeError(f"MSPASS_SCHEDULER={kind!r}: this frontend has no scheduler; valid: dask, spark")
