"""Role `scheduler`: the dask scheduler, or a Spark standalone master (MSPASS_SCHEDULER=spark)."""

from __future__ import annotations

import sys

from .. import spark
from ..plan import Service
from ..probes import HttpProbe
from ..settings import Settings


def services(s: Settings) -> list[Service]:
    return [spark_master(s)] if s.scheduler == "spark" else [dask_scheduler(s)]


def dask_scheduler(s: Settings) -> Service:
    argv = [sys.executable, "-m", "dask", "scheduler",
            "--port", str(s.dask_scheduler_port),
            "--dashboard-address", f"{s.bind_address}:{s.dask_dashboard_port}"]
    if s.bind_address not in ("0.0.0.0", ""):
        argv += ["--host", s.bind_address]
    return Service(
        name="scheduler",
        argv=argv,
        probe=HttpProbe(f"http://{s.local_host}:{s.dask_dashboard_port}/health", expect="ok"),
        log=s.log_dir / f"scheduler-{s.node_name}.log",
        cwd=s.work_dir,
        summary=f"dask on {s.bind_address}:{s.dask_scheduler_port}, dashboard "
                f"http://{s.local_host}:{s.dask_dashboard_port}/status",
    )


def spark_master(s: Settings) -> Service:
    host = spark.advertised_host(s)
    argv = spark.spark_class(spark.MASTER_CLASS) + [
        "--host", host, "--port", str(s.spark_master_port), "--webui-port", str(s.spark_master_webui_port)]
    ui = f"http://{s.local_host}:{s.spark_master_webui_port}"
    return Service(
        name="scheduler",
        argv=argv,
        # ALIVE: the master has recovered its state and accepts workers
        probe=HttpProbe(f"{ui}/json/", expect=r'"status"\s*:\s*"ALIVE"'),
        env=spark.daemon_env(s),
        log=s.log_dir / f"scheduler-{s.node_name}.log",
        cwd=s.work_dir,
        summary=f"Spark master spark://{host}:{s.spark_master_port}, web UI {ui}",
    )
