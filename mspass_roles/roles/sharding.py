"""Roles `dbmanager` and `shard` (sharded MongoDB).

Only mongod can shard; settings reject other engines with exit 2. The sharded roles
themselves are not implemented in this version: say so plainly instead of starting a
half-working cluster.
"""

from __future__ import annotations

from ..plan import Service
from ..settings import Settings


def services(s: Settings) -> list[Service]:
    raise NotImplementedError(
        f"MSPASS_ROLE={s.role!r} (sharded MongoDB) is not available in this version yet; "
        "valid now: all, db, scheduler, worker, frontend"
    )
