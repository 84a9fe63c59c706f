"""Image benchmarks, measured side by side in one run.

- the full image (mspasspy MSPASS_VERSION built in) beside the slim one (MSPASS_VERSION=none):
  size, and cold build time (no layer cache; pip/Go download caches kept);
- build times of the full image: warm (nothing changed) and after a code change (only the
  code layer rebuilds; MsPASS is not compiled again);
- image size per database engine (mongodb only where its repository is configured);
- start to healthy for the all-in-one container and for a 5-container cluster (db,
  scheduler, worker1, worker2, frontend), each beside the same roles started as plain
  processes on this host. "Healthy" is the same in both: the role printed its ready line
  and `mspass-role health` then exits 0.

    python bench/image.py [--rounds N] [--skip-cold]

Builds use the tag mspass-bench:* and remove it at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, TIMEOUT, environment, median, start_role, stop, wait_ready, wait_until  # noqa: E402

BENCH_IMAGE = "mspass-bench"


def sh(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, text=True, capture_output=True, **kw)


def build(tag: str, context: Path = REPO, engine: str = "ferretdb", extra: str = "", version: str = "") -> float:
    env = {**os.environ, "IMAGE": BENCH_IMAGE, "TAG": tag, "MSPASS_DB_ENGINE": engine, "BUILD_ARGS": extra}
    if version:
        env["MSPASS_VERSION"] = version
    t0 = time.monotonic()
    result = subprocess.run([str(context / "scripts" / "build" / "build-image.sh")], env=env, text=True, capture_output=True)
    if result.returncode:
        raise SystemExit(f"build {tag} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.monotonic() - t0


def docker_label(image: str, name: str) -> str:
    return sh("docker", "image", "inspect", "-f", f'{{{{index .Config.Labels "{name}"}}}}', image).stdout.strip()


def size_mb(image: str) -> float:
    return int(sh("docker", "image", "inspect", "-f", "{{.Size}}", image).stdout) / 1e6


def code_change_context(tmp: Path) -> Path:
    """A copy of the tracked files (and the staged source cache) with one line of code changed."""
    files = sh("git", "ls-files", cwd=REPO).stdout.split()
    files += [str(p.relative_to(REPO)) for p in (REPO / "scripts" / "build" / "source-cache").iterdir()]
    for name in files:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tmp / name)
    with open(tmp / "mspass_roles" / "__init__.py", "a") as f:
        f.write("# benchmark: a code change\n")
    return tmp


# ------------------------------------------------------------------ containers
def container_healthy(name: str, deadline: float) -> None:
    """Until the role's state says ready and its answers are ok (health --quick: the state
    file, about 0.2 s of CPU a question; no log text)."""
    def healthy() -> bool:
        if sh("docker", "inspect", "-f", "{{.State.Status}}", name).stdout.strip() != "running":
            raise SystemExit(f"{name} stopped:\n{sh('docker', 'logs', name).stdout[-2000:]}")
        return subprocess.run(["docker", "exec", name, "mspass-role", "health", "--quick"],
                              capture_output=True).returncode == 0

    wait_until(healthy, max(0.0, deadline - time.monotonic()), f"{name} healthy", interval=0.05, error=SystemExit,
               details=lambda: subprocess.run(["docker", "logs", name], text=True, capture_output=True).stdout[-2000:])


def time_containers(image: str, specs: list[tuple[str, dict[str, str]]]) -> float:
    """docker run every (name, env) at once on a fresh network; seconds until all healthy."""
    net = f"mspass-bench-{os.getpid()}"
    sh("docker", "network", "create", net)
    names = []
    try:
        t0 = time.monotonic()
        for host, env in specs:
            name = f"{net}-{host}"
            args = [f"--env={k}={v}" for k, v in env.items()]
            sh("docker", "run", "-d", "--name", name, "--hostname", host, "--network", net,
               "--network-alias", host, *args, image)
            names.append(name)
        for name in names:
            container_healthy(name, t0 + TIMEOUT)
        return time.monotonic() - t0
    finally:
        for name in names:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "network", "rm", net], capture_output=True)


# ------------------------------------------------------------------ plain processes
def processes_healthy(roles: list[tuple[list[str], dict[str, str]]], tmp: Path) -> float:
    """Start every role process at once; seconds until each printed ready and is healthy."""
    procs = []
    try:
        t0 = time.monotonic()
        for i, (args, env) in enumerate(roles):
            out = tmp / f"role{i}.out"
            procs.append((start_role(args, env, out), out, env))
        for proc, out, env in procs:
            wait_ready(proc, env)
            while subprocess.run([sys.executable, "-m", "mspass_roles", "health"], env=env,
                                 capture_output=True).returncode:
                if time.monotonic() - t0 > TIMEOUT:
                    raise SystemExit(f"{proc.args} never healthy")
                time.sleep(0.05)
        return time.monotonic() - t0
    finally:
        for proc, _, _ in procs:
            stop(proc)


def cluster_roles(tmp: Path) -> list[tuple[list[str], dict[str, str]]]:
    env = environment(tmp)
    node = lambda name, **extra: {**env, "MSPASS_NODE_NAME": name, **extra}  # noqa: E731
    sched = {"MSPASS_SCHEDULER_ADDRESS": "127.0.0.1"}
    return [
        (["db"], node("db")),
        (["scheduler"], node("scheduler")),
        (["worker"], node("worker1", **sched)),
        (["worker"], node("worker2", **sched)),
        (["frontend"], node("frontend", MSPASS_DB_ADDRESS="127.0.0.1", **sched)),
    ]


CLUSTER_CONTAINERS = [
    ("db", {"MSPASS_ROLE": "db"}),
    ("scheduler", {"MSPASS_ROLE": "scheduler"}),
    ("worker1", {"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "scheduler"}),
    ("worker2", {"MSPASS_ROLE": "worker", "MSPASS_SCHEDULER_ADDRESS": "scheduler"}),
    ("frontend", {"MSPASS_ROLE": "frontend", "MSPASS_DB_ADDRESS": "db", "MSPASS_SCHEDULER_ADDRESS": "scheduler"}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold (no layer cache) build")
    opts = parser.parse_args()
    rows: list[tuple[str, str]] = []

    class Rows(list):  # print each figure as soon as it is measured
        def append(self, row):
            print(f"  {row[0]:<52}{row[1]}", flush=True)
            super().append(row)

    rows = Rows()
    try:
        # ---- builds and sizes
        slim_tag = "slim"
        if not opts.skip_cold:
            cold = build("cold", extra="--no-cache")
            cold_slim = build(slim_tag, extra="--no-cache", version="none")
            rows.append(("build, cold, full (no layer cache; downloads cached)", f"{cold:7.1f} s"))
            rows.append(("build, cold, slim (MSPASS_VERSION=none)", f"{cold_slim:7.1f} s"))
            rows.append(("build, cold, full / slim", f"{cold / cold_slim:7.2f}x"))
        else:
            build(slim_tag, version="none")
        warm = median([build("ferretdb") for _ in range(opts.rounds)])
        rows.append(("build, warm (nothing changed)", f"{warm:7.1f} s"))
        with tempfile.TemporaryDirectory() as tmp:
            changed = build("code", context=code_change_context(Path(tmp)))
        rows.append(("build after a code change (code layer only)", f"{changed:7.1f} s"))
        full, slim = size_mb(f"{BENCH_IMAGE}:ferretdb"), size_mb(f"{BENCH_IMAGE}:{slim_tag}")
        rows.append(("image size, full (mspasspy), ferretdb engine", f"{full:7.0f} MB"))
        rows.append(("image size, slim (MSPASS_VERSION=none)", f"{slim:7.0f} MB"))
        rows.append(("image size, full / slim", f"{full / slim:7.2f}x"))
        # auto: MongoDB where its repository answers, else FerretDB again (cached, seconds)
        build("auto", engine="auto")
        if docker_label(f"{BENCH_IMAGE}:auto", "io.mspass.db-engine") == "mongodb":
            rows.append(("image size, mongodb engine", f"{size_mb(f'{BENCH_IMAGE}:auto'):7.0f} MB"))
        else:
            rows.append(("image size, mongodb engine", "not built: MongoDB's repository unreachable"))

        # ---- start to healthy, containers beside plain processes
        image = f"{BENCH_IMAGE}:ferretdb"
        aio_c, aio_p, cl_c, cl_p = [], [], [], []
        for i in range(opts.rounds):
            aio_c.append(time_containers(image, [("aio", {})]))
            with tempfile.TemporaryDirectory() as tmp:
                aio_p.append(processes_healthy([(["all"], environment(Path(tmp)))], Path(tmp)))
            cl_c.append(time_containers(image, CLUSTER_CONTAINERS))
            with tempfile.TemporaryDirectory() as tmp:
                cl_p.append(processes_healthy(cluster_roles(Path(tmp)), Path(tmp)))
            print(f"round {i + 1}/{opts.rounds}: all-in-one {aio_c[-1]:.2f} s vs {aio_p[-1]:.2f} s; "
                  f"cluster {cl_c[-1]:.2f} s vs {cl_p[-1]:.2f} s", flush=True)
        for label, c, p in (("all-in-one", aio_c, aio_p), ("5-role cluster", cl_c, cl_p)):
            rows.append((f"{label}: docker run -> healthy", f"{median(c):7.2f} s"))
            rows.append((f"{label}: plain processes -> healthy", f"{median(p):7.2f} s"))
            rows.append((f"{label}: ratio containers / processes", f"{median(c) / median(p):7.2f}x"))
    finally:
        subprocess.run(["docker", "image", "rm", "-f", *(f"{BENCH_IMAGE}:{t}" for t in
                        ("cold", "ferretdb", "code", "mongodb", "slim", "cold-ferretdb", "ferretdb-ferretdb",
                         "code-ferretdb", "mongodb-mongodb", "slim-ferretdb"))], capture_output=True)
    print(f"\nimage benchmarks (median of {opts.rounds} rounds where repeated)")
    for label, value in rows:
        print(f"  {label:<52}{value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
