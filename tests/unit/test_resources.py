"""CPU and memory limits read from cgroup files (v1 and v2), as docker --cpus/--memory set them."""

from pathlib import Path

from mspass_roles import resources


def files(root: Path, **content: str) -> Path:
    for name, text in content.items():
        path = root / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cpu_quota_v2_rounds_up(tmp_path, monkeypatch):
    monkeypatch.setattr(resources.os, "sched_getaffinity", lambda pid: set(range(8)))
    assert resources.cpu_count(files(tmp_path, **{"cpu.max": "150000 100000"})) == 2


def test_cpu_unlimited_v2_uses_affinity(tmp_path, monkeypatch):
    monkeypatch.setattr(resources.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert resources.cpu_count(files(tmp_path, **{"cpu.max": "max 100000"})) == 3


def test_cpu_quota_v1(tmp_path, monkeypatch):
    monkeypatch.setattr(resources.os, "sched_getaffinity", lambda pid: set(range(8)))
    root = files(tmp_path, cpu__cpu_cfs_quota_us="300000", cpu__cpu_cfs_period_us="100000")
    (root / "cpu" / "cpu_cfs_quota_us").rename(root / "cpu" / "cpu.cfs_quota_us")
    (root / "cpu" / "cpu_cfs_period_us").rename(root / "cpu" / "cpu.cfs_period_us")
    assert resources.cpu_count(root) == 3


def test_cpu_quota_never_raises_the_count(tmp_path, monkeypatch):
    monkeypatch.setattr(resources.os, "sched_getaffinity", lambda pid: {0})
    assert resources.cpu_count(files(tmp_path, **{"cpu.max": "400000 100000"})) == 1


def test_memory_limit_v2_below_total(tmp_path):
    meminfo = files(tmp_path, meminfo="MemTotal:       25165824 kB\n") / "meminfo"
    cg = files(tmp_path / "cg", **{"memory.max": str(4 << 30)})
    assert resources.memory_bytes(cg, meminfo) == 4 << 30


def test_memory_unlimited_uses_total(tmp_path):
    meminfo = files(tmp_path, meminfo="MemTotal:       1048576 kB\n") / "meminfo"
    cg = files(tmp_path / "cg", **{"memory.max": "max"})
    assert resources.memory_bytes(cg, meminfo) == 1 << 30
    v1 = files(tmp_path / "v1", memory__x="")
    (v1 / "memory" / "memory.limit_in_bytes").write_text(str(1 << 62))  # v1's "no limit"
    assert resources.memory_bytes(v1, meminfo) == 1 << 30


def test_spark_worker_memory_leaves_a_gibibyte():
    assert resources.spark_worker_memory(8 << 30) == "7168m"
    assert resources.spark_worker_memory(1 << 30) == "1024m"  # but offers at least 1 GiB
