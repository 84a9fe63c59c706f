"""The SIF beside the docker image, measured side by side in one run.

- SIF build time (docker save + apptainer build, in the helper image when the host has
  no Apptainer) and its size, beside the docker image's size;
- the all-in-one's time to ready under Apptainer (in the helper container, as a non-root
  user) beside `docker run`'s. Ready means the same in both: the role printed its ready
  line and `mspass-role health` then exits 0.

    python bench/sif.py [--rounds N]      (needs `make build apptainer-image`)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, median  # noqa: E402
from image import container_healthy, sh  # noqa: E402

from tests.support.apptainer import run_apptainer_host  # noqa: E402

IMAGE = os.environ.get("MSPASS_IMAGE", "mspass:latest")
# measured inside the node: launch, then until the health check (the state file) says ready
APPTAINER_READY = r"""
cd /work/$1 || exit 2
start=$(date +%s.%N)
apptainer run --no-eval /sif/mspass_bench.sif >aio.out 2>&1 &
pid=$!
until apptainer exec /sif/mspass_bench.sif mspass-role health --quick >/dev/null 2>&1
do
    kill -0 $pid 2>/dev/null || { cat aio.out; exit 1; }
    sleep 0.05
done
end=$(date +%s.%N)
echo "READY $start $end"
kill -TERM $pid
wait $pid
"""


def docker_ready() -> float:
    name = f"mspass-bench-sif-{os.getpid()}"
    t0 = time.monotonic()
    sh("docker", "run", "-d", "--name", name, IMAGE)
    try:
        container_healthy(name, t0 + 180)
        return time.monotonic() - t0
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def apptainer_ready(node, work: Path, round_no: int) -> float:
    (work / f"r{round_no}").mkdir()
    os.chown(work / f"r{round_no}", 1000, 1000)
    result = node.exec_run(["bash", "-c", APPTAINER_READY, "ready", f"r{round_no}"], user="1000")
    out = result.output.decode(errors="replace")
    line = next((line for line in out.splitlines() if line.startswith("READY ")), None)
    if result.exit_code not in (0, 143) or line is None:
        raise SystemExit(f"apptainer all-in-one did not get ready:\n{out}")
    _, start, end = line.split()
    return float(end) - float(start)


def main() -> int:
    import docker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="mspass-bench-sif-") as tmp:
        sif_dir, work = Path(tmp) / "sif", Path(tmp) / "work"
        sif_dir.mkdir()
        work.mkdir(mode=0o777)
        work.chmod(0o777)
        # the SIF of IMAGE, under a name of the bench's own (build-sif.sh names it by tag)
        subprocess.run(["docker", "tag", IMAGE, "mspass-sifbench:bench"], check=True)
        t0 = time.monotonic()
        try:
            sh(str(REPO / "scripts" / "build" / "build-sif.sh"),
               env={**os.environ, "SIF_DIR": str(sif_dir), "IMAGE": "mspass-sifbench", "TAG": "bench"})
        finally:
            subprocess.run(["docker", "image", "rm", "mspass-sifbench:bench"], capture_output=True)
        build = time.monotonic() - t0
        sif_mb = (sif_dir / "mspass_bench.sif").stat().st_size / 1e6
        image_mb = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", IMAGE).stdout) / 1e6
        print(f"SIF built in {build:.1f} s: {sif_mb:.0f} MB (docker image {image_mb:.0f} MB)", flush=True)

        node = run_apptainer_host(docker.from_env(), {str(sif_dir): {"bind": "/sif", "mode": "ro"},
                                                      str(work): {"bind": "/work", "mode": "rw"}})
        try:
            d, a = [], []
            for i in range(rounds):
                d.append(docker_ready())
                a.append(apptainer_ready(node, work, i))
                print(f"round {i + 1}/{rounds}: docker {d[-1]:.2f} s, apptainer {a[-1]:.2f} s", flush=True)
        finally:
            node.remove(force=True)
    print(f"\nSIF beside the docker image (median of {rounds} rounds where repeated)")
    print(f"  {'SIF build (docker save + apptainer build)':<46}{build:8.1f} s")
    print(f"  {'SIF size / docker image size':<46}{sif_mb:8.0f} MB / {image_mb:.0f} MB ({sif_mb / image_mb:.2f}x)")
    print(f"  {'all-in-one start to ready: docker run':<46}{median(d):8.2f} s")
    print(f"  {'all-in-one start to ready: apptainer run':<46}{median(a):8.2f} s ({median(a) / median(d):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
