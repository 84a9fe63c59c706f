"""One module per role; each turns Settings into a Plan of services."""

from __future__ import annotations

from pathlib import Path

from ..plan import Plan
from ..settings import Settings
from . import all as all_role
from . import db, frontend, scheduler, sharding, worker
from .frontend import Batch, BatchError, resolve_batch

__all__ = ["Batch", "BatchError", "build_plan", "check_batch_role", "resolve_batch", "BATCH_ROLES"]

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
