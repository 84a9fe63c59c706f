"""A docker container standing for an HPC node with Apptainer (the project's helper image).

No --privileged (this host refuses it): FUSE, no seccomp filter, and unmasked /proc and
/sys paths, which is what the docker CLI's `--security-opt systempaths=unconfined` sets
(empty masked/read-only path lists, which the SDK takes only through the low-level API).
"""

from __future__ import annotations

import os

HELPER = os.environ.get("APPTAINER_IMAGE", "mspass-apptainer:sid")


def run_apptainer_host(client, binds: dict[str, dict], image: str = HELPER, labels: dict | None = None):
    """Start `image` (sleeping) with `binds` ({host: {"bind": path, "mode": m}}); the container."""
    host_config = client.api.create_host_config(
        binds=binds, devices=["/dev/fuse"], security_opt=["seccomp=unconfined"])
    host_config.update({"MaskedPaths": [], "ReadonlyPaths": []})
    created = client.api.create_container(image, ["sleep", "infinity"], labels=labels or {"io.mspass.test": "sif"},
                                          volumes=[b["bind"] for b in binds.values()], host_config=host_config)
    container = client.containers.get(created["Id"])
    container.start()
    container.exec_run(["chmod", "666", "/dev/fuse"])  # FUSE for non-root users
    return container
