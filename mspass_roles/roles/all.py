"""Role `all`: db + scheduler + worker + frontend (Jupyter or one batch run) in one place,
with dask or Spark (MSPASS_SCHEDULER)."""

from __future__ import annotations

from ..plan import Service
from ..settings import Settings
from . import db, frontend, scheduler, worker


def services(s: Settings, batch: frontend.Batch | None = None) -> list[Service]:
    # they start side by side (a dask worker waits for its scheduler by itself); listed in
    # dependency order, stopped in reverse: the database goes down last
    out = db.services(s) + scheduler.services(s) + worker.services(s, wait=False)
    if batch:
        run = frontend.batch_service(s, batch, wait=False)
        run.after = tuple(service.name for service in out)  # the notebook finds everything ready
        out.append(run)
    else:
        out.append(frontend.jupyter_service(s, wait=False))
    return out
