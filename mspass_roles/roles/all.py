"""Role `all`: db + scheduler + worker + frontend (Jupyter or one batch run) in one place,
with dask or Spark (MSPASS_SCHEDULER)."""

from __future__ import annotations

from ..plan import Service
from ..settings import Settings
from . import db, frontend, scheduler, worker


def services(s: Settings, batch: frontend.Batch | None = None) -> list[Service]:
    # started in this order and stopped in reverse: the database goes down last
    out = db.services(s) + scheduler.services(s) + worker.services(s)
    if batch:
        out.append(frontend.batch_service(s, batch, wait=False))
    else:
        out.append(frontend.jupyter_service(s, wait=False))
    return out
