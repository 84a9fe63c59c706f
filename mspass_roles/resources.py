"""CPUs and memory this process may use: the machine's, narrowed by cgroup limits.

`docker run --cpus/--memory` (and Slurm's cgroups) set limits that os.cpu_count() and
/proc/meminfo do not show; workers sized from them would oversubscribe the container.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_count(cgroup: Path = CGROUP) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = period = None
    v2 = _read(cgroup / "cpu.max")  # "max 100000" or "150000 100000"
    if v2:
        q, _, p = v2.partition(" ")
        if q != "max":
            quota, period = int(q), int(p or 100000)
    else:
        q1, p1 = _read(cgroup / "cpu" / "cpu.cfs_quota_us"), _read(cgroup / "cpu" / "cpu.cfs_period_us")
        if q1 and p1 and int(q1) > 0:
            quota, period = int(q1), int(p1)
    if quota and period:
        cpus = min(cpus, max(1, math.ceil(quota / period)))
    return max(1, cpus)


def memory_bytes(cgroup: Path = CGROUP, meminfo: Path = Path("/proc/meminfo")) -> int:
    total = 0
    for line in (_read(meminfo) or "").splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) * 1024
    limit = _read(cgroup / "memory.max") or _read(cgroup / "memory" / "memory.limit_in_bytes")
    if limit and limit.isdigit() and int(limit) < (1 << 60):  # v1 says "no limit" with a huge number
        total = min(total, int(limit)) if total else int(limit)
    return total


def spark_worker_memory(total: int | None = None) -> str:
    """Spark's own default: all memory but 1 GiB for the system, at least 1 GiB."""
    total = memory_bytes() if total is None else total
    mib = max(1024, total // (1 << 20) - 1024)
    return f"{mib}m"
