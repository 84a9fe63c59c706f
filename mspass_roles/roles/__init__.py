"""One module per role; each turns Settings into a Plan of services."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from ..plan import Plan
from ..settings import BY_NAME, Settings, listening_ports
from . import all as all_role
from . import db, frontend, scheduler, sharding, worker
from .frontend import Batch, BatchError, resolve_batch

__all__ = ["Batch", "BatchError", "build_plan", "check_batch_role", "ports_in_use", "resolve_batch", "BATCH_ROLES"]

#: roles that accept --batch FILE
BATCH_ROLES = ("all", "frontend")


def check_batch_role(s: Settings) -> None:
    if s.role not in BATCH_ROLES:
        raise BatchError(f"--batch is for roles {' and '.join(BATCH_ROLES)}; MSPASS_ROLE={s.role!r}")


def build_plan(s: Settings, batch: Batch | None = None) -> Plan:
    """The plan for s.role. Raises NotImplementedError for what this version cannot run."""
    if batch is not None:
        check_batch_role(s)
    if s.role == "all":
        services = all_role.services(s, batch)
    elif s.role == "frontend":
        services = frontend.services(s, batch)
    elif s.role in ("dbmanager", "shard"):
        services = sharding.services(s)
    else:
        services = {"db": db, "scheduler": scheduler, "worker": worker}[s.role].services(s)
    return Plan(role=s.role, services=services)


def attach_plan(s: Settings, batch: Batch) -> Plan:
    """Run only the batch file, against services this node already runs (docker exec)."""
    return Plan(role=s.role, services=[frontend.batch_service(s, batch, wait=True)], attached=True)


def directories(s: Settings) -> list[tuple[Path, int]]:
    """Directories this role writes to, and the mode each gets when it is made, created
    before anything starts: the run dir (state, private config) and the database's files
    are their owner's alone."""
    dirs = [(s.work_dir, 0o777), (s.log_dir, 0o777), (s.run_dir, 0o700)]
    if s.runs_db:
        dirs.append((s.db_dir, 0o700))
    if s.role in ("all", "worker"):
        dirs.append((s.worker_dir, 0o777))
    return dirs


def ports_in_use(s: Settings) -> list[str]:
    """The role's ports another process listens on already, each as a problem naming its
    variable: found before anything starts, since a service that finds its port taken
    fails only once the others run (Jupyter after the database, the scheduler, a worker)."""
    problems = []
    for name in listening_ports(s.role, s.scheduler):
        port = getattr(s, BY_NAME[name].field)
        try:
            family, kind, proto, _, address = socket.getaddrinfo(s.bind_address or None, port, type=socket.SOCK_STREAM,
                                                                  flags=socket.AI_PASSIVE)[0]
        except OSError:
            continue  # an address this node cannot resolve: the service says so itself
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
            try:
                probe.bind(address)
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    problems.append(f"{name}={port} is in use on {s.bind_address} (another process listens there); "
                                    f"valid: a free port, e.g. {name}={port + 1} if that one is free")
    return problems
