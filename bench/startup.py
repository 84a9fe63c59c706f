"""Start-up cost of the orchestration, measured side by side in one run.

For each round, in fresh temp dirs and fresh loopback ports:
- `mspass-role all` from launch to its state file saying ready;
- each of its services started alone as a plain process (the same argv and the same
  readiness probe, no supervisor): db, scheduler, worker (its scheduler already up, not
  timed) and jupyter.
- and, for scale, the machine itself: two CPU-bound processes side by side beside one alone
  (on shared or hyper-threaded cores that is above 1.0x, a floor for services started
  side by side, whose start-up is mostly CPU).
Prints medians and the ratios all / slowest service and all / sum of services.

    python bench/startup.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import TIMEOUT, environment, start_role, stop, wait_ready  # noqa: E402

from mspass_roles.probes import wait_until  # noqa: E402
from mspass_roles.roles import build_plan, directories  # noqa: E402
from mspass_roles.settings import Settings  # noqa: E402


def time_all(env: dict[str, str], tmp: Path) -> float:
    t0 = time.monotonic()
    proc = start_role(["all"], env, tmp / "all.out")
    try:
        wait_ready(proc, env)
        return time.monotonic() - t0
    finally:
        stop(proc)


def start_plain(service, env: dict[str, str]) -> subprocess.Popen:
    if service.before_start:
        service.before_start()
    service.log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(service.argv, env={**env, **service.env}, cwd=service.cwd,
                            stdout=open(service.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its descendants (live or reaped)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


def time_services(env: dict[str, str]) -> tuple[dict[str, float], dict[str, float]]:
    """Each service of role all started alone, with its own probe: seconds to ready, and
    the CPU seconds it used until then."""
    old = dict(os.environ)
    os.environ.update(env)
    try:
        settings = Settings.from_env(role="all")
        services = {s.name: s for s in build_plan(settings).services}
    finally:
        os.environ.clear()
        os.environ.update(old)
    for path, mode in directories(settings):
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name in ("db", "scheduler", "worker", "jupyter"):
        helpers = [start_plain(services["scheduler"], env)] if name == "worker" else []
        try:
            if helpers and wait_until(services["scheduler"].probe, time.monotonic() + TIMEOUT) is not None:
                raise SystemExit("scheduler for the worker measurement did not start")
            t0 = time.monotonic()
            proc = start_plain(services[name], env)
            try:
                reason = wait_until(services[name].probe, t0 + TIMEOUT, max_interval=0.02)
                if reason:
                    raise SystemExit(f"{name} alone did not get ready: {reason}")
                times[name] = time.monotonic() - t0
                cpu[name] = cpu_seconds(proc.pid)
            finally:
                stop(proc)
        finally:
            for helper in helpers:
                stop(helper)
        if services[name].after_stop:
            services[name].after_stop()
    return times, cpu


SPIN = "x = 0\nfor i in range(8_000_000):\n    x += i"


def time_cpu_bound(copies: int) -> float:
    """Wall time of `copies` identical CPU-bound processes started together."""
    t0 = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(copies)]
    for proc in procs:
        proc.wait()
    return time.monotonic() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    all_times: list[float] = []
    alone: dict[str, list[float]] = {}
    alone_cpu: dict[str, list[float]] = {}
    spin: dict[int, list[float]] = {1: [], 2: []}
    for i in range(rounds):
        for copies in spin:
            spin[copies].append(time_cpu_bound(copies))
        with tempfile.TemporaryDirectory(prefix="mspass-bench-") as a, tempfile.TemporaryDirectory() as b:
            all_times.append(time_all(environment(Path(a)), Path(a)))
            times, cpu = time_services(environment(Path(b)))
            for name, t in times.items():
                alone.setdefault(name, []).append(t)
                alone_cpu.setdefault(name, []).append(cpu[name])
        print(f"round {i + 1}/{rounds}: all {all_times[-1]:.2f} s; "
              + ", ".join(f"{n} {v[-1]:.2f} s" for n, v in alone.items()), flush=True)

    med = {name: statistics.median(v) for name, v in alone.items()}
    t_all = statistics.median(all_times)
    slowest = max(med, key=med.get)
    total = sum(med.values())
    print(f"\nstart-up to ready, median of {rounds} rounds (seconds)")
    print(f"  {'mspass-role all (4 services)':<40}{t_all:7.2f}")
    for name, t in med.items():
        note = " (its scheduler already up)" if name == "worker" else ""
        print(f"  {name + ' alone, plain process' + note:<40}{t:7.2f}")
    print(f"  {'slowest single service (' + slowest + ')':<40}{med[slowest]:7.2f}")
    print(f"  {'sum of the services':<40}{total:7.2f}")
    print(f"\n  ratio all / slowest service: {t_all / med[slowest]:.2f}x")
    print(f"  ratio all / sum of services: {t_all / total:.2f}x  (services start side by side)")
    factor = statistics.median(spin[2]) / statistics.median(spin[1])
    print(f"  this machine: 2 CPU-bound processes side by side take {factor:.2f}x one alone")
    # start-up is mostly CPU: on this machine's cores, `all` cannot beat the CPU its
    # services need (measured alone, the supervisor's own not counted) shared by every core
    cores = os.cpu_count() or 1
    cpu = {name: statistics.median(v) for name, v in alone_cpu.items()}
    floor = max(med[slowest], sum(cpu.values()) / cores)
    print("\n  CPU seconds to ready, alone: " + ", ".join(f"{n} {v:.2f}" for n, v in cpu.items())
          + f"; sum {sum(cpu.values()):.2f} on {cores} cores")
    print(f"  lower bound for all here: {floor:.2f} s = {floor / med[slowest]:.2f}x the slowest service")
    return 0


if __name__ == "__main__":
    sys.exit(main())
