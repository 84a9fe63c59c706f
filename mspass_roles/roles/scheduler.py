"""Role `scheduler`: the dask scheduler (Spark master: MSPASS_SCHEDULER=spark)."""

from __future__ import annotations

import sys

from ..plan import Service
from ..probes import HttpProbe
from ..settings import Settings


def services(s: Settings) -> list[Service]:
    if s.scheduler == "spark":
        raise NotImplementedError("MSPASS_SCHEDULER='spark' is not available in this version yet; valid: dask")
    argv = [sys.executable, "-m", "dask", "scheduler",
            "--port", str(s.dask_scheduler_port),
            "--dashboard-address", f"{s.bind_address}:{s.dask_dashboard_port}"]
    if s.bind_address not in ("0.0.0.0", ""):
        argv += ["--host", s.bind_address]
    return [Service(
        name="scheduler",
        argv=argv,
        probe=HttpProbe(f"http://{s.local_host}:{s.dask_dashboard_port}/health", expect="ok"),
        log=s.log_dir / f"scheduler-{s.node_name}.log",
        cwd=s.work_dir,
        summary=f"dask on {s.bind_address}:{s.dask_scheduler_port}, dashboard "
                f"http://{s.local_host}:{s.dask_dashboard_port}/status",
    )]
