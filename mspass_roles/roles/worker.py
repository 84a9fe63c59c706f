"""Role `worker`: `dask worker`, or a Spark worker, connected to MSPASS_SCHEDULER_ADDRESS."""

from __future__ import annotations

import sys

from .. import resources, spark
from ..plan import Service
from ..probes import DaskWorkersProbe, HttpProbe, TcpProbe
from ..settings import Settings


def services(s: Settings, *, wait: bool = True) -> list[Service]:
    """`wait`: a dask worker starts once its scheduler's port answers (and says so while it
    waits); without, at once: it connects when its scheduler comes up. A Spark worker always
    waits: it retries its registration only every 5 to 15 s."""
    return [spark_worker(s)] if s.scheduler == "spark" else [dask_worker(s, wait=wait)]


def dask_worker(s: Settings, *, wait: bool = True) -> Service:
    user = s.worker_args
    name = user.value("--name") or s.node_name
    target = s.dask_scheduler_url
    tls = s.dask_tls_files("worker")  # the worker's own certificate: a worker node need not hold a client's
    argv = [sys.executable, "-m", "dask", "worker", target]
    # our defaults go first and only when the user did not give the option (theirs win)
    if not user.has("--name"):
        argv += ["--name", name]
    nworkers = user.value("--nworkers") or "1"
    count = int(nworkers) if nworkers.isdigit() and int(nworkers) > 0 else 1
    if not user.has("--memory-limit"):
        limit = s.memory_limit
        if limit == "auto":  # dask's own 'auto' scales by its (possibly wrong) CPU count
            limit = str(resources.memory_bytes() // count)
        argv += ["--memory-limit", limit]
    if not user.has("--local-directory"):
        argv += ["--local-directory", str(s.worker_dir)]
    if not user.has("--death-timeout"):
        # a worker whose scheduler is gone for good ends, so its role (and an HPC job) ends too
        argv += ["--death-timeout", f"{s.wait_timeout:g}"]
    if not s.service_binds_all and not user.has("--host") and not user.has("--listen-address"):
        argv += ["--host", s.service_url_host]
    if s.dask_scheme != "tcp" and not user.has("--protocol") and not user.has("--listen-address"):
        # its own listeners too (the nanny's and the worker's): they take tasks from whoever connects
        argv += ["--protocol", s.dask_scheme]
    if not any(user.has(o) for o in ("--dashboard", "--no-dashboard", "--dashboard-address")):
        # its own dashboard listens on a random port nobody publishes or tunnels (the
        # scheduler's is the one users open) and imports bokeh: ~1 s of CPU per process
        argv += ["--no-dashboard"]
    if not user.has("--nthreads") and nworkers.isdigit():
        # dask misses CPU quotas on some cgroup v1 layouts (docker --cpus): size threads ourselves
        argv += ["--nthreads", str(max(1, resources.cpu_count() // count))]
    argv += list(user.argv)
    return Service(
        name="worker",
        argv=argv,
        # a dask handshake, not a bare connection: it leaves no line in the scheduler's log
        needs=[DaskWorkersProbe(target, count=0, tls=tls)] if wait else [],
        probe=DaskWorkersProbe(target, name, count, tls=tls),
        log=s.log_dir / f"worker-{s.node_name}.log",
        cwd=s.worker_dir,
        summary=f"{count} dask worker process(es) {name!r} registered with {target}",
    )


def spark_worker(s: Settings) -> Service:
    addr = s.scheduler_address
    assert addr is not None, "settings require a scheduler address for workers"
    argv = spark.spark_class(spark.WORKER_CLASS) + [
        spark.master_url(addr),
        "--host", s.announced_host,
        "--webui-port", str(s.spark_worker_webui_port),
        "--cores", str(s.spark_worker_cores),
        "--memory", s.spark_worker_memory,
        "--work-dir", str(s.worker_dir),
    ]
    return spark.with_auth(s, Service(
        name="worker",
        argv=argv,
        needs=[TcpProbe(addr.host, addr.port)],
        # the worker's own page names its master's web UI once it has registered
        probe=HttpProbe(f"http://{s.local_hostport(s.spark_worker_webui_port)}/json/",
                        expect=r'"masterwebuiurl"\s*:\s*"http'),
        env=spark.daemon_env(s),
        log=s.log_dir / f"worker-{s.node_name}.log",
        cwd=s.worker_dir,
        summary=f"Spark worker ({s.spark_worker_cores} cores, {s.spark_worker_memory}) registered with "
                f"{spark.master_url(addr)}",
    ), "worker")
