"""Role `scheduler`: the dask scheduler, or a Spark standalone master (MSPASS_SCHEDULER=spark)."""

from __future__ import annotations

import sys

from .. import spark
from ..plan import Service
from ..probes import HttpProbe
from ..settings import ANY_ADDRESS, Address, Settings, local_address


def services(s: Settings) -> list[Service]:
    return [spark_master(s)] if s.scheduler == "spark" else [dask_scheduler(s)]


def dashboard_url(s: Settings) -> str:
    """The dask dashboard as reached on this node (see dask_scheduler for IPv6)."""
    ipv6 = ":" in s.dashboard_address
    host = "127.0.0.1" if ipv6 else local_address(s.dashboard_address)
    return f"http://{Address(host, s.dask_dashboard_port).hostport}"


def dask_scheduler(s: Settings) -> Service:
    # dask parses the dashboard address by splitting on ':', so it cannot name an IPv6
    # address; given the port alone it listens on every IPv4 interface
    ipv6 = ":" in s.dashboard_address
    every = s.dashboard_address in ANY_ADDRESS or ipv6
    dashboard = f":{s.dask_dashboard_port}" if every else f"{s.dashboard_address}:{s.dask_dashboard_port}"
    local = dashboard_url(s)
    argv = [sys.executable, "-m", "dask", "scheduler",
            "--port", str(s.dask_scheduler_port),
            "--dashboard-address", dashboard]
    if not s.service_binds_all:
        argv += ["--host", s.service_url_host]
    if s.dask_scheme != "tcp":  # dask reads the certificate, key and CA file from its own config
        argv += ["--protocol", s.dask_scheme]
    return Service(
        name="scheduler",
        argv=argv,
        probe=HttpProbe(f"{local}/health", expect="ok"),
        log=s.log_dir / f"scheduler-{s.node_name}.log",
        cwd=s.work_dir,
        summary=f"dask on {s.dask_scheme}://{s.service_hostport(s.dask_scheduler_port)}, dashboard "
                f"{local}/status",
        urls={"dashboard": f"{local}/status"},
    )


def spark_master(s: Settings) -> Service:
    host = s.announced_host
    argv = spark.spark_class(spark.MASTER_CLASS) + [
        "--host", host, "--port", str(s.spark_master_port), "--webui-port", str(s.spark_master_webui_port)]
    ui = f"http://{s.local_hostport(s.spark_master_webui_port)}"
    return spark.with_auth(s, Service(
        name="scheduler",
        argv=argv,
        # ALIVE: the master has recovered its state and accepts workers
        probe=HttpProbe(f"{ui}/json/", expect=spark.MASTER_ALIVE),
        env=spark.daemon_env(s),
        log=s.log_dir / f"scheduler-{s.node_name}.log",
        cwd=s.work_dir,
        summary=f"Spark master spark://{host}:{s.spark_master_port}, web UI {ui}",
        urls={"spark": f"{ui}/"},
    ), "master")
