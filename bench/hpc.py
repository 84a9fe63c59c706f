"""HPC start-up on the emulated Slurm cluster (ctl + 3 nodes, the SIF under Apptainer),
measured beside what the reference MsPASS run script spends in fixed sleeps.

For each round: `sbatch job_script.sh roundtrip.ipynb` with the templates as a user
edits them; measured from sbatch to the launcher's job state `running` (every role's
supervisor says it is ready: database, scheduler, both workers registered), to the
notebook's end (`stopping`), and to the job's end.

The reference (MsPASS's scripts/template/run_mspass.sh with start-mspass.sh) for the
same layout sleeps a fixed 10 s before starting the notebook, without checking that the
workers registered, and 5 s + MSPASS_SLEEP_TIME (15 s) in its clean-up.

    python bench/hpc.py [--rounds N]       (needs `make sif slurm-image`)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, median  # noqa: E402

from tests.support.hpc_jobs import prepare_run_dir  # noqa: E402
from tests.support.slurm import SlurmCluster  # noqa: E402

REFERENCE_START_SLEEP = 10.0  # run_mspass.sh: `sleep 10` after starting the db
REFERENCE_CLEANUP_SLEEP = 5.0 + 15.0  # clean_up_single_node: `sleep 5`, `sleep $MSPASS_SLEEP_TIME`


def one_job(cluster: SlurmCluster, round_no: int) -> dict[str, float]:
    run_dir = prepare_run_dir(cluster.shared / f"bench-{round_no}")
    t0 = time.monotonic()
    job = cluster.sbatch("job_script.sh", "roundtrip.ipynb", "-p", "n_tasks", "20", "-p", "expect_workers", "2",
                         workdir=f"/shared/{run_dir.name}")
    out = run_dir / f"mspass_{job}.out"
    info = run_dir / f"mspass-job-{job}.json"
    marks: dict[str, float] = {}
    # the launcher's job state: running once every role is ready, stopping once the notebook ended
    states = {"ready": "running", "notebook": "stopping"}
    while True:
        text = out.read_text(errors="replace") if out.exists() else ""
        now = time.monotonic() - t0
        try:
            state = json.loads(info.read_text())["state"]
        except (OSError, ValueError, KeyError):
            state = ""
        for name, wanted in states.items():
            if name not in marks and state == wanted:
                marks[name] = now
        state = cluster.job_info(job).get("JobState")
        if state not in ("PENDING", "RUNNING", "COMPLETING", None):
            marks["end"] = now
            if state != "COMPLETED":
                raise SystemExit(f"job {job} ended {state}:\n{text}")
            return marks
        if now > 300:
            raise SystemExit(f"job {job} still running after 300 s:\n{text}")
        time.sleep(0.1)


def main() -> int:
    import docker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    os.environ.setdefault("SIF_NAME", "mspass_latest.sif")
    results = []
    with tempfile.TemporaryDirectory(prefix="mspass-bench-hpc-") as shared, \
            SlurmCluster(docker.from_env(), nodes=3, shared=shared,
                         binds={str(REPO): "/opt/mspass", str(REPO / "build"): "/sif"}) as cluster:
        for i in range(rounds):
            results.append(one_job(cluster, i))
            r = results[-1]
            print(f"round {i + 1}/{rounds}: ready {r['ready']:.1f} s, notebook ended {r['notebook']:.1f} s, "
                  f"job ended {r['end']:.1f} s", flush=True)
    ready = median([r["ready"] for r in results])
    teardown = median([r["end"] - r["notebook"] for r in results])
    print(f"\nemulated Slurm cluster, 3 nodes (db + scheduler + frontend, 2 workers), median of {rounds} (seconds)")
    print(f"  sbatch -> every role ready (workers registered)        {ready:6.1f}")
    print(f"  reference: fixed sleep before the notebook (no check)  {REFERENCE_START_SLEEP:6.1f}"
          f"   ratio {ready / REFERENCE_START_SLEEP:.2f}x")
    print(f"  notebook end -> job end (every role stopped)           {teardown:6.1f}")
    print(f"  reference: fixed sleeps in its clean-up                {REFERENCE_CLEANUP_SLEEP:6.1f}"
          f"   ratio {teardown / REFERENCE_CLEANUP_SLEEP:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
