"""dask beside Spark, clusters of the same shape, measured in one run.

Shape: db + scheduler + 2 workers of 1 core each, as role processes on this host. For
each scheduler: time from launch until every role is ready, then a frontend batch run
of bench/job.py (200 CPU-bound tasks): its wall time from launch to exit, and inside it
the time to connect and the time to compute.

    python bench/schedulers.py [--rounds N]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, environment, median, start_role, stop, wait_ready  # noqa: E402

from tests.support.processes import free_ports  # noqa: E402


def one_round(kind: str, tmp: Path) -> dict[str, float]:
    env = environment(tmp)
    extra = free_ports(5)
    env.update({"MSPASS_SCHEDULER": kind, "MSPASS_WORKER_ARG": "--nthreads 1", "SPARK_WORKER_CORES": "1",
                "SPARK_WORKER_MEMORY": "1g", "SPARK_MASTER_PORT": str(extra[0]),
                "SPARK_MASTER_WEBUI_PORT": str(extra[1]), "MSPASS_SPARK_DRIVER_PORT": str(extra[2]),
                "MSPASS_SPARK_BLOCKMANAGER_PORT": str(extra[3])})
    port = env["SPARK_MASTER_PORT"] if kind == "spark" else env["DASK_SCHEDULER_PORT"]
    sched = {"MSPASS_SCHEDULER_ADDRESS": f"127.0.0.1:{port}"}
    roles = [(["db"], {"MSPASS_NODE_NAME": "db"}), (["scheduler"], {"MSPASS_NODE_NAME": "scheduler"})]
    ui_ports = free_ports(2)
    for i in (1, 2):
        roles.append((["worker"], {"MSPASS_NODE_NAME": f"worker{i}", "MSPASS_WORKER_DIR": str(tmp / f"w{i}"),
                                   "SPARK_WORKER_WEBUI_PORT": str(ui_ports[i - 1]), **sched}))
    procs = []
    try:
        t0 = time.monotonic()
        for n, (args, extra_env) in enumerate(roles):
            out = tmp / f"role{n}.out"
            role_env = {**env, **extra_env}
            procs.append((start_role(args, role_env, out), role_env))
        for proc, role_env in procs:
            wait_ready(proc, role_env)
        ready = time.monotonic() - t0

        out = tmp / "job.out"
        t1 = time.monotonic()
        job = start_role(["frontend", "--batch", str(REPO / "bench" / "job.py")],
                         {**env, "MSPASS_DB_ADDRESS": "127.0.0.1", **sched}, out)
        if job.wait(600) != 0:
            raise SystemExit(f"{kind} job failed:\n{out.read_text()}")
        wall = time.monotonic() - t1
        m = re.search(r"JOB connect=([\d.]+) compute=([\d.]+) result=(\d+)", out.read_text())
        return {"ready": ready, "wall": wall, "connect": float(m.group(1)), "compute": float(m.group(2)),
                "result": float(m.group(3))}
    finally:
        for proc, _ in reversed(procs):
            stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    results: dict[str, list[dict[str, float]]] = {"dask": [], "spark": []}
    for i in range(rounds):
        for kind in results:  # alternate, so drift affects both alike
            with tempfile.TemporaryDirectory(prefix=f"mspass-bench-{kind}-") as tmp:
                results[kind].append(one_round(kind, Path(tmp)))
        print(f"round {i + 1}/{rounds}: " + "; ".join(
            f"{k} ready {v[-1]['ready']:.1f} s, job {v[-1]['wall']:.1f} s" for k, v in results.items()), flush=True)
    assert len({r["result"] for v in results.values() for r in v}) == 1, "dask and Spark disagree on the result"

    med = {k: {m: median([r[m] for r in v]) for m in ("ready", "wall", "connect", "compute")}
           for k, v in results.items()}
    print(f"\ndask vs Spark, db + scheduler + 2 one-core workers, median of {rounds} rounds (seconds)")
    print(f"  {'':<44}{'dask':>8}{'spark':>8}{'spark/dask':>12}")
    for m, label in (("ready", "launch -> all roles ready"), ("wall", "batch job, launch -> exit"),
                     ("connect", "  of which: connect (client / SparkContext)"), ("compute", "  of which: 200 tasks")):
        print(f"  {label:<44}{med['dask'][m]:8.2f}{med['spark'][m]:8.2f}{med['spark'][m] / med['dask'][m]:11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
