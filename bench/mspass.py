"""The MsPASS workflow, timed by stage, on the all-in-one and on role clusters of 1 and 2
workers, side by side in one run.

The workload is tests/notebooks/mspass_workflow.ipynb, run in batch mode by a frontend:
N synthetic TimeSeries saved through GridFS (serial, in the frontend), then
read_distributed_data -> map(detrend, bandpass filter) -> write_distributed_data on the
dask workers, then every result read back and checked. Shapes (containers of the image):

  all-in-one     one container: db, scheduler, one worker (all the machine's cores), frontend
  1 worker       db, scheduler, worker1 (--cpus 1), frontend: one container each
  2 workers      the same with worker1 and worker2 (--cpus 1 each): what a second node adds

    python bench/mspass.py [--n-data N] [--npts N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, TIMEOUT, median, wait_until  # noqa: E402

IMAGE = os.environ.get("MSPASS_IMAGE", "mspass:latest")
NOTEBOOK = REPO / "tests" / "notebooks" / "mspass_workflow.ipynb"
STAGES = (("save", "save_data, serial (frontend)"),
          ("parallel", "read_distributed_data -> map -> write"),
          ("check", "read back and compare, serial"))


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, text=True, capture_output=True)


def wait_healthy(name: str) -> None:
    def healthy() -> bool:
        if docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip() != "running":
            raise SystemExit(f"{name} stopped:\n{docker('logs', name, check=False).stdout[-3000:]}")
        return docker("exec", name, "mspass-role", "health", check=False).returncode == 0

    wait_until(healthy, TIMEOUT, f"{name} healthy", error=SystemExit,
               details=lambda: docker("logs", name, check=False).stdout[-3000:])


def run_batch(name: str, work: Path, params: dict[str, object], env: dict[str, str], network: str | None) -> dict:
    """A frontend (or all-in-one) batch run of the workflow; the notebook's summary."""
    args = ["run", "--name", name, "--hostname", name, "-v", f"{work}:/home",
            *(["--network", network] if network else []), *(f"--env={k}={v}" for k, v in env.items()),
            IMAGE, "--batch", NOTEBOOK.name]
    for key, value in params.items():
        args += ["-p", key, str(value)]
    result = docker(*args, check=False)
    docker("rm", "-f", name, check=False)
    if result.returncode:
        raise SystemExit(f"{name}: the workflow failed ({result.returncode}):\n{result.stdout[-4000:]}")
    return json.loads((work / params["summary_name"]).read_text())


def one_run(shape: str, workers: int, params: dict[str, object], tmp: Path) -> dict:
    work = tmp / shape.replace(" ", "-")
    work.mkdir()
    work.chmod(0o777)
    shutil.copy(NOTEBOOK, work)
    tag = f"mspass-bench-{os.getpid()}"
    params = {**params, "expect_workers": workers, "summary_name": "summary.json"}
    if shape == "all-in-one":
        return run_batch(f"{tag}-aio", work, params, {}, None)
    docker("network", "create", tag)
    names = []
    try:
        nodes = [("db", {"MSPASS_ROLE": "db"}, []), ("scheduler", {"MSPASS_ROLE": "scheduler"}, [])]
        nodes += [(f"worker{i}", {"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "scheduler"}, ["--cpus", "1"])
                  for i in range(1, workers + 1)]
        for host, env, limits in nodes:
            name = f"{tag}-{host}"
            docker("run", "-d", "--name", name, "--hostname", host, "--network", tag, "--network-alias", host,
                   "-v", f"{work}:/home", *limits, *(f"--env={k}={v}" for k, v in env.items()), IMAGE)
            names.append(name)
        for name in names:
            wait_healthy(name)
        frontend = {"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "db", "MSPASS_SCHEDULER_ADDRESS": "scheduler"}
        return run_batch(f"{tag}-frontend", work, params, frontend, tag)
    finally:
        for name in names:
            docker("rm", "-f", name, check=False)
        docker("network", "rm", tag, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-data", type=int, default=200, help="TimeSeries in the workflow (default 200)")
    parser.add_argument("--npts", type=int, default=20000, help="samples per TimeSeries (default 20000)")
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    params = {"n_data": opts.n_data, "npts": opts.npts, "npartitions": 16}
    shapes = (("all-in-one", 1), ("1 worker", 1), ("2 workers", 2))
    results: dict[str, list[dict]] = {shape: [] for shape, _ in shapes}
    for i in range(opts.rounds):
        for shape, workers in shapes:  # alternate, so drift affects every shape alike
            with tempfile.TemporaryDirectory(prefix="mspass-bench-") as tmp:
                summary = one_run(shape, workers, params, Path(tmp))
            assert summary["documents"] == opts.n_data and summary["max_abs_difference"] < 1e-9, summary
            assert len(summary["workers"]) == workers, summary["workers"]
            results[shape].append(summary["stages"])
        print(f"round {i + 1}/{opts.rounds}: " + "; ".join(
            f"{shape} {v[-1]['parallel']:.1f} s" for shape, v in results.items()), flush=True)

    med = {shape: {s: median([r[s] for r in runs]) for s, _ in STAGES} for shape, runs in results.items()}
    print(f"\nMsPASS workflow, {opts.n_data} TimeSeries x {opts.npts} samples, median of {opts.rounds} rounds "
          f"(seconds; {IMAGE})")
    print(f"  {'stage':<42}" + "".join(f"{shape:>12}" for shape, _ in shapes) + f"{'2 vs 1 worker':>15}")
    for stage, label in STAGES:
        row = "".join(f"{med[shape][stage]:12.2f}" for shape, _ in shapes)
        print(f"  {label:<42}{row}{med['1 worker'][stage] / med['2 workers'][stage]:14.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
