"""`docker compose up --wait` beside the SDK cluster harness, side by side in one run.

The same roles both ways (db, scheduler, two workers, frontend; the image's own health
check; a shared work dir): from nothing to every container healthy, median of N rounds.
Compose adds what the harness does not do: depends_on ordering (workers after a healthy
scheduler, the frontend after everything), and CPU/memory limits on the workers.

    python bench/compose.py [--rounds N]      (needs `make build` and Compose v2)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median  # noqa: E402
from image import CLUSTER_CONTAINERS as ROLES  # noqa: E402  (the same 5 roles as bench-image's cluster)
from tests.support.compose import Compose, require_compose  # noqa: E402
from tests.support.containers import Containers, docker_client  # noqa: E402

def time_compose(tmp: Path) -> float:
    project = Compose(tmp / "compose")
    try:
        t0 = time.monotonic()
        project.up("--scale", "worker=2")
        return time.monotonic() - t0
    finally:
        project.remove()


def time_sdk(tmp: Path) -> float:
    containers = Containers(docker_client())
    work = tmp / "sdk"
    work.mkdir()
    try:
        t0 = time.monotonic()
        net = containers.network()
        started = [containers.run(name, environment=env, network=net,
                                  volumes={str(work): {"bind": "/home", "mode": "rw"}}) for name, env in ROLES]
        for container in started:
            containers.wait_healthy(container)
        return time.monotonic() - t0
    finally:
        containers.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    require_compose()
    compose, sdk = [], []
    for i in range(rounds):
        with tempfile.TemporaryDirectory(prefix="mspass-bench-") as tmp:
            compose.append(time_compose(Path(tmp)))
            sdk.append(time_sdk(Path(tmp)))
        print(f"round {i + 1}/{rounds}: compose {compose[-1]:.2f} s, SDK harness {sdk[-1]:.2f} s", flush=True)
    c, s = median(compose), median(sdk)
    print(f"\nstart to healthy, 5 containers (db, scheduler, 2 workers, frontend), median of {rounds} rounds")
    print(f"  {'docker compose up --wait':<40}{c:7.2f} s")
    print(f"  {'SDK cluster harness (tests/support)':<40}{s:7.2f} s")
    print(f"  ratio compose / SDK harness: {c / s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
