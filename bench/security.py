"""What the protections cost: the MsPASS workflow on a cluster of role processes (db,
scheduler, one worker, a frontend batch run) with a database login and dask over TLS
(mspass_roles.credentials, what mspass-hpc gives every job) beside the same cluster
without them, alternating, in one run.

Prints per stage the median seconds of each and the ratio secure / plain, and the time
from starting the three services to all ready.

    python bench/security.py [--rounds N] [--n-data N] [--npts N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, environment, median, start_role, stop, wait_ready  # noqa: E402

from mspass_roles import credentials  # noqa: E402

NOTEBOOK = REPO / "tests" / "notebooks" / "mspass_workflow.ipynb"
STAGES = ("client", "save", "parallel", "check")


def one_run(secure: bool, n_data: int, npts: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mspass-bench-security-") as tmp:
        tmp = Path(tmp)
        env = environment(tmp)
        if secure:
            env.update(credentials.make_tls(tmp / "tls"))
            env.update(credentials.make_login(tmp / "db.password"))
        shutil.copy(NOTEBOOK, tmp / "work")
        started = []
        try:
            t0 = time.monotonic()
            for role, extra in (("db", {}), ("scheduler", {}), ("worker", {"MSPASS_SCHEDULER_ADDRESS": "127.0.0.1"})):
                started.append((start_role([role], {**env, **extra, "MSPASS_ROLE": role}, tmp / f"{role}.out"),
                                {**env, **extra}))
            for proc, role_env in started:
                wait_ready(proc, role_env)
            ready = time.monotonic() - t0
            frontend_env = {**env, "MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "127.0.0.1",
                            "MSPASS_SCHEDULER_ADDRESS": "127.0.0.1"}
            t0 = time.monotonic()
            batch = start_role(["--batch", str(tmp / "work" / NOTEBOOK.name), "-p", "n_data", str(n_data),
                                "-p", "npts", str(npts)], frontend_env, tmp / "frontend.out")
            if batch.wait(900) != 0:
                raise SystemExit(f"the workflow failed:\n{(tmp / 'frontend.out').read_text()[-3000:]}")
            total = time.monotonic() - t0
            summary = json.loads((tmp / "work" / "mspass_workflow-summary.json").read_text())
            if summary["documents"] != n_data:
                raise SystemExit(f"{summary['documents']} documents, expected {n_data}")
            return {"ready": ready, **{s: summary["stages"][s] for s in STAGES}, "batch": total}
        finally:
            for proc, _ in reversed(started):
                stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-data", type=int, default=48)
    parser.add_argument("--npts", type=int, default=20000)
    args = parser.parse_args()
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for i in range(args.rounds):
        for secure in (False, True):  # alternating, so that drifts of the machine hit both
            results[secure].append(one_run(secure, args.n_data, args.npts))
        print(f"round {i + 1}/{args.rounds}: batch plain {results[False][-1]['batch']:.2f} s, "
              f"secure {results[True][-1]['batch']:.2f} s", flush=True)
    rows = (("ready", "db, scheduler, worker to ready"), ("client", "Client() (login, TLS handshakes)"),
            ("save", "save_data, serial (frontend)"), ("parallel", "read_distributed_data -> map -> write"),
            ("check", "read back and compare"), ("batch", "whole batch run"))
    print(f"\nMsPASS workflow, {args.n_data} TimeSeries of {args.npts} samples, median of {args.rounds} rounds")
    print(f"  {'stage':<42}{'plain':>9}{'secure':>9}{'ratio':>8}")
    for key, label in rows:
        plain = median([r[key] for r in results[False]])
        secure = median([r[key] for r in results[True]])
        print(f"  {label:<42}{plain:8.2f}s{secure:8.2f}s{secure / plain:7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
