"""A role is a plan: which processes, with which argv, and how to tell each is ready."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .probes import Probe


@dataclass
class Service:
    name: str
    argv: list[str]
    #: readiness: None means "ready once started" (a batch run)
    probe: Probe | None = None
    #: services on other nodes this one needs first; waited for up to MSPASS_WAIT_TIMEOUT
    needs: list[Probe] = field(default_factory=list)
    #: services of this plan that must be ready before this one starts (the others start
    #: at once, side by side)
    after: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    #: output file; None inherits our stdout (batch runs print where the user looks)
    log: Path | None = None
    stop_signal: int = signal.SIGTERM
    #: asks the service to stop, in place of stop_signal, for a process that would pass the
    #: signal on as something harsher (srun turns SIGTERM into SIGKILL for its tasks); False:
    #: it did not, send stop_signal
    stop: Callable[[], bool] | None = None
    stop_timeout: float = 10.0
    #: the role's main process: when it exits the role ends with its exit code
    main: bool = False
    #: e.g. "ferretdb on 0.0.0.0:27017", printed in the status line
    summary: str = ""
    #: printed once when ready (e.g. the Jupyter URL)
    ready_message: str = ""
    #: what a user opens, by name (e.g. {"jupyter": "http://127.0.0.1:8888/lab?token=..."}):
    #: written to the state file, which launchers read (it is private: mode 0600)
    urls: dict[str, str] = field(default_factory=dict)
    # hooks; a returned string is logged as the role's output, an exception fails the service
    before_start: Callable[[], str | None] | None = None
    #: once the process is started, before `probe` is waited for: what must be done to a
    #: running server before it can be ready (initiating a replica set). It gets `wait`,
    #: which waits for a probe within the service's ready deadline: None, or why not.
    setup: Callable[[Callable[[Probe], str | None]], str | None] | None = None
    on_ready: Callable[[], str | None] | None = None
    after_stop: Callable[[], str | None] | None = None
    #: what an unexpected exit code means (e.g. mongod's 62: data of an older version), said
    #: with the failure; None when it means nothing particular
    explain_exit: Callable[[int], str | None] | None = None
    #: run every `period` seconds while the role runs (e.g. copy a tmp database back)
    periodic: Callable[[], str | None] | None = None
    period: float = 0.0


@dataclass
class Plan:
    role: str
    services: list[Service]
    #: set when this plan runs a batch file against services already running here
    attached: bool = False
    #: called once every service is ready (what it returns is logged), e.g. a launcher's job file
    on_ready: Callable[[], str | None] | None = None

    def names(self) -> list[str]:
        return [s.name for s in self.services]
