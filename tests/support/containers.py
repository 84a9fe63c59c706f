"""Containers for tests (tiers 3 and 4), through the Docker SDK.

`Containers` starts what a test needs, labels it, waits on real states (health, log lines,
exit) with deadlines, and always removes everything it created. On failure the fixtures
print every container's logs.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

from tests.support.prerequisites import require
from tests.support.wait import wait_until

IMAGE = os.environ.get("MSPASS_IMAGE", "mspass:latest")
LABEL = "io.mspass.test"
TIMEOUT = 180
SECOND = 1_000_000_000  # docker health-check times are in nanoseconds
#: the image's own health command, checked every second so tests see state changes quickly
FAST_HEALTH = {"test": ["CMD", "mspass-role", "health"], "interval": SECOND, "timeout": 5 * SECOND,
               "retries": 2, "start_period": 90 * SECOND}


def docker_client():
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as err:  # no SDK, no socket, daemon down: all mean "no Docker here"
        require(False, f"a running Docker engine ({err}); run `make deps`")
    return client


def ensure_image(client, name: str = IMAGE):
    import docker.errors

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        require(False, f"the image {name}; run `make build`")


class Containers:
    def __init__(self, client, image: str = IMAGE):
        self.client = client
        self.image = image
        self.run_id = uuid.uuid4().hex[:8]
        self.containers: list = []
        self.networks: list = []
        self.volumes: list = []

    # ---------------------------------------------------------------- creating
    def network(self) -> str:
        net = self.client.networks.create(f"mspass-test-{self.run_id}", labels={LABEL: self.run_id})
        self.networks.append(net)
        return net.name

    def volume(self) -> str:
        vol = self.client.volumes.create(f"mspass-test-{self.run_id}-{len(self.volumes)}", labels={LABEL: self.run_id})
        self.volumes.append(vol)
        return vol.name

    def run(self, name: str | None = None, command=None, *, network: str | None = None, **kwargs):
        """Start a detached container; `name` is also its host name (a "node")."""
        kwargs.setdefault("labels", {})[LABEL] = self.run_id
        if network and name:  # reachable by its node name on the test network
            kwargs["networking_config"] = {network: self.client.api.create_endpoint_config(aliases=[name])}
        container = self.client.containers.run(
            self.image, command, detach=True,
            name=f"{name}-{self.run_id}" if name else None,
            hostname=name, network=network,
            **kwargs,
        )
        self.containers.append(container)
        return container

    # ---------------------------------------------------------------- waiting
    def wait_healthy(self, container, timeout: float = TIMEOUT, details=None) -> None:
        """`details`: what to show on failure, if not the container's logs (a role run by
        docker exec writes elsewhere)."""
        details = details or (lambda: self.logs_of(container))

        def healthy() -> bool:
            container.reload()
            state = container.attrs["State"]
            health = state.get("Health", {}).get("Status")
            if state["Status"] in ("exited", "dead") or health == "unhealthy":
                pytest.fail(f"{container.name} is {state['Status']}/{health}:\n{details()}", pytrace=False)
            return health == "healthy"

        wait_until(healthy, timeout, f"{container.name} healthy", details=details)

    def wait_health(self, container, status: str, timeout: float = TIMEOUT, details=None) -> None:
        def reached() -> bool:
            container.reload()
            return container.attrs["State"].get("Health", {}).get("Status") == status

        wait_until(reached, timeout, f"{container.name} {status}", details=details or (lambda: self.logs_of(container)))

    def wait_log(self, container, pattern: str, timeout: float = TIMEOUT, count: int = 1) -> re.Match:
        """Wait until `pattern` occurs `count` times in the container's logs (which keep the
        output of every earlier run of a restarted container); returns the last match."""
        def found() -> re.Match | None:
            matches = list(re.finditer(pattern, self.logs_of(container), re.MULTILINE))
            if len(matches) >= count:
                return matches[-1]
            container.reload()
            if container.status in ("exited", "dead"):
                pytest.fail(f"{container.name} exited before {pattern!r}:\n{self.logs_of(container)}", pytrace=False)
            return None

        return wait_until(found, timeout, f"{container.name}: {count} x {pattern!r}",
                          details=lambda: self.logs_of(container))

    def wait_exit(self, container, timeout: float = TIMEOUT) -> int:
        try:
            return container.wait(timeout=timeout)["StatusCode"]
        except Exception:  # requests' ReadTimeout: still running
            pytest.fail(f"{container.name} still running after {timeout} s:\n{self.logs_of(container)}",
                        pytrace=False)

    # ---------------------------------------------------------------- inspecting
    def ip(self, container, network: str) -> str:
        container.reload()
        return container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]

    @staticmethod
    def logs_of(container) -> str:
        try:
            return container.logs().decode(errors="replace")
        except Exception as err:
            return f"(no logs: {err})"

    def logs(self) -> str:
        return "\n".join(f"===== {c.name} =====\n{self.logs_of(c)}" for c in self.containers)

    # ---------------------------------------------------------------- cleaning up
    def cleanup(self) -> None:
        import docker.errors

        for container in reversed(self.containers):
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
        for net in self.networks:
            net.remove()
        for vol in self.volumes:
            try:
                vol.remove(force=True)
            except docker.errors.NotFound:
                pass


def tracked(client, request, image: str = IMAGE):
    """Generator body for a fixture: yields Containers, cleans up, shows logs on failure."""
    tracker = Containers(client, image)
    try:
        yield tracker
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(tracker.logs())
        tracker.cleanup()
