"""One supervisor runs every plan: start, wait for readiness, watch, stop.

- services start side by side, each as soon as the services of this plan it names in
  `after` are ready (and what it `needs` elsewhere answers); each waits for its own
  readiness, so `all` is about as quick as its slowest service;
- children start from argv lists (no shell) in their own session, so a terminal's Ctrl-C
  reaches only us and we stop them in order; each dies with us (PR_SET_PDEATHSIG) if we
  are killed outright;
- readiness is probed with deadlines, never assumed after a sleep;
- the first required child to die ends the role with a non-zero code and its log tail;
- once all are ready, a monitor thread runs each service's periodic task and asks every
  service its readiness question again every MSPASS_CHECK_INTERVAL, saying when one stops
  answering (a frozen or hung service does not exit, so only asking finds it) and when it
  answers again; it does not kill it (a database busy with a large write may answer late);
- SIGTERM/SIGINT/SIGHUP stop children in the plan's reverse order (the database last),
  each with a bounded grace period.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, TypeVar

from . import state
from .logs import ServiceLog, log_tail
from .plan import Plan, Service
from .probes import Probe, ask, wait_until
from .settings import PRIVATE_NAMES, Settings, in_docker

T = TypeVar("T")
#: open files a database server needs besides two per data file (room for the data to
#: double): client connections (a descriptor each: every dask worker keeps a pool), journal
#: and logs. MongoDB's WiredTiger keeps a file open per collection and per index (the reference
#: died at 1024); FerretDB's SQLite backend a few per database
NOFILE_HEADROOM = {"mongodb": 4096, "ferretdb": 1024}
#: files counted in the database directory at most (a walk of a huge one would delay the start)
NOFILE_COUNT_CAP = 200_000

try:
    _libc = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc: children simply do not get a parent-death signal
    _libc = None


def _die_with_parent() -> None:
    # runs in the child between fork and exec: only async-signal-safe work here
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_environment(settings: Settings) -> dict[str, str]:
    """Our environment minus secrets, fixed up for an arbitrary uid (docker run --user).

    Jupyter and IPython write under $HOME and look the user name up; a uid with no
    passwd entry has neither a writable home nor a name.
    """
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_NAMES}
    if settings.mspass_home:  # every MsPASS process reads the same schema
        env["MSPASS_HOME"] = settings.mspass_home
    home = env.get("HOME", "")
    if not home or not os.access(home, os.W_OK):
        fallback = settings.run_dir / "home"
        fallback.mkdir(parents=True, exist_ok=True, mode=0o700)
        env["HOME"] = str(fallback)
    try:
        pwd.getpwuid(os.getuid())
    except KeyError:
        name = env.get("USER") or env.get("LOGNAME") or f"uid{os.getuid()}"
        env.setdefault("USER", name)
        env.setdefault("LOGNAME", name)
        # per node: a run dir on a shared file system (mspass-hpc) serves several nodes
        files = settings.run_dir / f"nss-{settings.node_name}"
        env.update(nss_wrapper(files, name, env["HOME"], env.get("LD_PRELOAD", "")))
    return env


def nss_wrapper(files: Path, name: str, home: str, preload: str) -> dict[str, str]:
    """Environment that gives this uid a passwd entry in every child, through nss_wrapper
    (as the official postgres image does for `--user`): Java asks the C library for the
    user's name and has no fallback, so Hadoop's login in every Spark process fails with
    "invalid null input: name" for a uid the image does not know. {} without the library."""
    import ctypes.util

    library = ctypes.util.find_library("nss_wrapper")
    if library is None:
        return {}
    uid, gid = os.getuid(), os.getgid()
    files.mkdir(parents=True, exist_ok=True, mode=0o700)
    passwd, group = files / "passwd", files / "group"
    known_group = any(line.split(":")[2:3] == [str(gid)] for line in _read("/etc/group").splitlines())
    # replaced whole: a child of an earlier start may be reading the old copy
    _replace(passwd, _read("/etc/passwd") + f"{name}:x:{uid}:{gid}:MsPASS user:{home}:/bin/false\n")
    _replace(group, _read("/etc/group") + ("" if known_group else f"{name}:x:{gid}:\n"))
    return {"LD_PRELOAD": f"{library} {preload}".strip(), "NSS_WRAPPER_PASSWD": str(passwd),
            "NSS_WRAPPER_GROUP": str(group)}


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".new")
    partial.write_text(text)
    os.replace(partial, path)


def _read(path: str) -> str:
    try:
        text = Path(path).read_text()
    except OSError:
        return ""
    return text if not text or text.endswith("\n") else text + "\n"


@dataclass(frozen=True)
class Options:
    """What the supervisor needs to know beyond the plan: a role's from its Settings
    (for_role), the HPC launcher's from the job."""

    node: str
    #: the children's environment (secrets removed), before each service's own
    env: dict[str, str]
    #: seconds for a started service to answer its probe, and for what it `needs`
    ready_timeout: float
    wait_timeout: float
    #: longest pause between two questions to a service this one needs
    sleep_time: float = 1.0
    #: seconds between the monitor's questions once all are ready (0: never)
    check_interval: float = 0.0
    #: where the state is written; None: nowhere (a batch run attached to running services)
    state_file: Path | None = None
    #: warn when the open-file limit is too low for a database
    runs_db: bool = False
    #: the database's engine and files, by which the open-file limit it needs is judged
    db_engine: str = ""
    db_dir: Path | None = None

    @classmethod
    def for_role(cls, settings: Settings, plan: Plan) -> "Options":
        return cls(node=settings.node_name, env=child_environment(settings), ready_timeout=settings.ready_timeout,
                   wait_timeout=settings.wait_timeout, sleep_time=settings.sleep_time,
                   check_interval=settings.check_interval, runs_db=settings.runs_db,
                   db_engine=settings.db_engine if settings.runs_db else "",
                   db_dir=settings.db_dir if settings.runs_db else None,
                   state_file=None if plan.attached else state.state_path(settings, plan.role))


def exit_code(returncode: int) -> int:
    """Shell convention: killed by signal N -> 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard limit (MongoDB needs many files)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1048576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft, hard


def count_files(path: Path | None, cap: int = NOFILE_COUNT_CAP) -> int:
    """Files under `path` (a database's data), at most `cap`; 0 when it cannot be read."""
    count = 0
    if path is None:
        return 0
    for _root, _dirs, files in os.walk(path):
        count += len(files)
        if count >= cap:
            return cap
    return count


def nofile_needed(engine: str, data_files: int) -> int:
    """Open files a database server needs for the data in hand, with room for it to double."""
    return NOFILE_HEADROOM.get(engine, NOFILE_HEADROOM["mongodb"]) + 2 * data_files


def where_running(env: dict[str, str] | None = None, dockerenv: bool | None = None) -> str:
    """docker (a Docker/Compose container), apptainer (a SIF: the host's limits) or host."""
    env = os.environ if env is None else env
    if dockerenv if dockerenv is not None else in_docker():
        return "docker"
    if env.get("APPTAINER_CONTAINER") or env.get("SINGULARITY_CONTAINER"):
        return "apptainer"
    return "host"


def nofile_warning(soft: int, hard: int, needed: int, where: str) -> str | None:
    """The warning for an open-file limit too low for the database, with the step that raises
    it where the user is; None when the limit is enough. `soft` is the limit after raising it
    to the hard one (a process may do that itself: the user need not)."""
    if hard == resource.RLIM_INFINITY or soft >= needed:
        return None
    if soft < hard:  # the raise was refused: odd, but then the soft limit is what counts
        fix = f"ulimit -n {hard} before starting"
    elif where == "docker":
        fix = ("start the container with --ulimit nofile=65536:65536 (Compose: ulimits, nofile; Docker "
               "Desktop and mspass-desktop: the engine's default-ulimits in its settings)")
    elif where == "apptainer":
        fix = ("the container has the node's limit (ulimit -Hn): ask the cluster's administrators for a "
               "higher nofile hard limit")
    else:
        fix = "raise the hard limit (ulimit -Hn: /etc/security/limits.conf, or systemd's LimitNOFILE)"
    return (f"WARNING: open-file limit is {soft} (hard limit {hard}), below the {needed} the database "
            f"may need for its files and connections; it may fail with 'too many open files'. To raise "
            f"it: {fix}")


class _Child:
    def __init__(self, service: Service, proc: subprocess.Popen, log: ServiceLog | None):
        self.service = service
        self.proc = proc
        self.log = log
        self.ready = False
        #: since when the monitor finds it not answering
        self.failing_since: float | None = None
        #: its last answer to its readiness question ("ok" or the reason), for the state file
        self.answer = ""
        #: why its last periodic task failed (e.g. a tmp database's copy); None: it did not.
        #: Health fails while it is set: the service answers, but what it promises does not hold
        self.task_error: str | None = None


class Supervisor:
    def __init__(self, plan: Plan, options: Options, out: IO[str] | None = None):
        self.plan = plan
        self.options = options
        self.out = out or sys.stdout
        self.children: list[_Child] = []
        self.signal_received: int | None = None
        #: set by the first service that fails to start: the others stop waiting
        self.failed = threading.Event()
        self.lock = threading.Lock()  # children, the state file and output, shared by start threads
        #: work for the main thread from the start threads (None: one of them finished)
        self.requests: queue.Queue[Callable[[], None] | None] = queue.Queue()
        #: when every service last answered its readiness question (time.time(); 0: never)
        self.checked_at = 0.0
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.state_file = options.state_file
        self.t0 = time.monotonic()

    # ----------------------------------------------------------------- output
    def say(self, msg: str) -> None:
        self.print(f"mspass {self.plan.role}: {msg}")

    def print(self, text: str) -> None:
        with self.lock:
            print(text, file=self.out, flush=True)

    def _elapsed(self, since: float) -> str:
        return f"{time.monotonic() - since:.1f} s"

    # ----------------------------------------------------------------- signals
    def _on_signal(self, signum, _frame) -> None:
        if self.signal_received is None:
            self.signal_received = signum
        self.wake.set()

    def _install_handlers(self) -> dict:
        previous = {}
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            previous[sig] = signal.signal(sig, self._on_signal)
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda *_: self.wake.set())
        return previous

    # ----------------------------------------------------------------- main
    def run(self) -> int:
        previous = self._install_handlers()
        try:
            self._check_limits()
            if not self.plan.attached:  # at once, so a slow start is not silence
                self.say(f"starting {', '.join(self.plan.names())} (pid {os.getpid()}, node {self.options.node})")
            code = self._start_all()
            if code is None:
                threading.Thread(target=self._monitor, name="monitor", daemon=True).start()
                code = self._watch()
        finally:
            self.stopping.set()
            saved = self._stop_all()
            with self.lock:  # no thread writes it again once it is gone
                if self.state_file:
                    state.remove(self.state_file)
                self.state_file = None
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        # a stop whose last step failed (a tmp database not copied back) did not end well
        return code if code or saved else 1

    def _check_limits(self) -> None:
        """Raise the open-file limit to the hard one (the services inherit it); warn only when
        even that is low for the database's engine and the data it holds, with the step that
        raises it where this runs (the hard limits of Docker's engines, 1048576 or 524288,
        never warn; this machine's 20000 warns only for a database of thousands of files)."""
        soft, hard = raise_nofile_limit()
        if not self.options.runs_db:
            return
        needed = nofile_needed(self.options.db_engine, count_files(self.options.db_dir))
        warning = nofile_warning(soft, hard, needed, where_running())
        if warning:
            self.say(warning)

    def _abort_reason(self) -> str | None:
        if self.signal_received is not None:
            return f"stop requested ({signal.Signals(self.signal_received).name})"
        if self.failed.is_set():
            return "another service failed"
        for child in list(self.children):
            if child.proc.poll() is not None:
                return f"{child.service.name} exited with code {exit_code(child.proc.returncode)}"
        return None

    def _start_all(self) -> int | None:
        """Start every service, each in its own thread as soon as what it waits for is
        ready. None when all are ready, else the exit code of the first failure."""
        ready = {service.name: threading.Event() for service in self.plan.services}
        codes: list[int] = []  # in the order failures happened

        def start(service: Service) -> None:
            try:
                code = self._wait_for_after(service, ready)
                if code is None:
                    code = self._wait_for_needs(service)
                if code is None:
                    code = self._start(service)
            except Exception as err:  # noqa: BLE001 - a start that raised is a failed start, never a ready one
                self.say(f"ERROR: {service.name} cannot start: {err}")
                code = 1
            if code is None:
                ready[service.name].set()
            else:
                with self.lock:
                    codes.append(code)
                self.failed.set()
            self.requests.put(None)  # wakes the main thread

        threads = [threading.Thread(target=start, args=(service,), name=f"start-{service.name}", daemon=True)
                   for service in self.plan.services]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            try:
                request = self.requests.get(timeout=0.5)  # the main thread stays free for signal handlers
            except queue.Empty:
                continue
            if request is not None:
                request()
        for thread in threads:
            thread.join()
        if self.signal_received is not None:
            return self._stopped_code()
        real = [code for code in codes if code != _ABORTED]
        if real:
            return real[0]
        if any(c.proc.poll() is not None for c in self.children):
            # one ended while others were starting: a batch run that finished (its code), or
            # a service that died after it was ready (reported as such)
            return self._watch()
        if not all(event.is_set() for event in ready.values()):  # never "ready" on a start that did not end so
            self.say("ERROR: not every service became ready")
            return 1
        if not self.plan.services[-1].main:
            self.say(f"ready: {', '.join(self.plan.names())} ({self._elapsed(self.t0)})")
        self.checked_at = time.time()  # each one has just answered its probe
        self._write_state(ready=True)
        if self.plan.on_ready:
            self._note(self.plan.on_ready())
        return None

    def _in_main_thread(self, call: Callable[[], T]) -> T:
        """Run `call` in the main thread and return its result. Children are forked there:
        the kernel sends PR_SET_PDEATHSIG when the *thread* that forked a child ends, so a
        child forked by a start thread would be killed as soon as it was ready."""
        done: Future = Future()

        def request() -> None:
            try:
                done.set_result(call())
            except BaseException as err:  # noqa: BLE001 - raised again in the caller's thread
                done.set_exception(err)

        self.requests.put(request)
        return done.result()

    def _wait_for_after(self, service: Service, ready: dict[str, threading.Event]) -> int | None:
        for name in service.after:
            while not ready[name].wait(0.1):
                if self._abort_reason() is not None:
                    return _ABORTED
        return None

    def _wait_for_needs(self, service: Service) -> int | None:
        deadline = time.monotonic() + self.options.wait_timeout
        for need in service.needs:
            if ask(need) is None:
                continue
            since = time.monotonic()
            self.say(f"{service.name}: waiting up to {self.options.wait_timeout:g} s for {need.describe()}")
            reason = wait_until(need, deadline, max_interval=self.options.sleep_time, abort=self._abort_reason)
            if reason is None:
                self.say(f"{service.name}: found {need.describe()} after {self._elapsed(since)}")
                continue
            if self._abort_reason() is not None:
                return _ABORTED  # a stop, or another service failed or died: reported once, elsewhere
            self.say(f"ERROR: {service.name} cannot start: no {need.describe()} after "
                     f"{self._elapsed(since)} ({reason}); check that service and MSPASS_WAIT_TIMEOUT")
            return 1
        return None

    def _start(self, service: Service) -> int | None:
        since = time.monotonic()
        if self._abort_reason() is not None:
            return _ABORTED
        if service.before_start:  # one that raises (no room in /tmp for a tmp database) fails the start
            self._note(service.before_start())
        log = None
        if service.log is not None:  # rotated, so a service that runs for months cannot fill the disk
            log = ServiceLog(service.log)
            log.note(f"\n=== mspass {self.plan.role}: starting {service.name} at {time.ctime()}: "
                     f"{' '.join(service.argv)}")
        env = {**self.options.env, **service.env}
        try:
            proc = self._in_main_thread(lambda: subprocess.Popen(
                service.argv,
                cwd=service.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log.write_end if log else None,
                stderr=subprocess.STDOUT if log else None,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            ))
        except OSError as err:
            if log:
                log.close()
            self.say(f"ERROR: cannot start {service.name} ({service.argv[0]}): {err}")
            return 1
        child = _Child(service, proc, log)
        with self.lock:
            self.children.append(child)
        if log:
            log.started()
        self._write_state(ready=False)
        if service.probe is None:
            child.ready = True
            if service.main:
                self.say(f"running {service.summary or service.name}")
            return None
        deadline = since + self.options.ready_timeout

        def wait(probe: Probe) -> str | None:
            return wait_until(probe, deadline, max_interval=0.2, abort=self._abort_reason)

        if service.setup:
            code = self._hook(child, "setup", lambda: service.setup(wait))
            if code is not None:
                return code
        reason = wait(service.probe)
        if reason is not None:
            if proc.poll() is not None:
                return self._report_death(child)
            if self._abort_reason() is not None:
                return _ABORTED  # a stop, or another service failed or died: reported once, elsewhere
            self.say(f"ERROR: {service.name} not ready after {self._elapsed(since)}: {reason}")
            self._show_tail(child)
            return 1
        child.ready = True
        child.answer = "ok"
        self._write_state(ready=False)
        if service.on_ready:
            code = self._hook(child, "on_ready", service.on_ready)
            if code is not None:
                return code
        self.say(f"{service.name} ready: {service.summary} ({self._elapsed(since)})")
        if service.ready_message:
            self.print(service.ready_message)
        return None

    def _hook(self, child: _Child, what: str, call: Callable[[], str | None]) -> int | None:
        """Run a service's hook: None when it succeeded (what it returned is logged), else
        the exit code, the failure said once with the service's log tail."""
        try:
            self._note(call())
            return None
        except Exception as err:  # noqa: BLE001 - any failure of a hook fails its service
            if child.proc.poll() is not None:
                return self._report_death(child)
            if self._abort_reason() is not None:
                return _ABORTED
            self.say(f"ERROR: {child.service.name}: {what} failed: {err}")
            self._show_tail(child)
            return 1

    def _watch(self) -> int:
        while True:
            for child in self.children:
                rc = child.proc.poll()
                if rc is None:
                    continue
                if child.service.main:
                    word = "finished" if rc == 0 else "failed"
                    self.say(f"{child.service.name} {word} (exit code {exit_code(rc)}, {self._elapsed(self.t0)})")
                    return exit_code(rc)
                return self._report_death(child)
            if self.signal_received is not None:
                self.say(f"received {signal.Signals(self.signal_received).name}: stopping")
                return self._stopped_code()
            self.wake.wait(1.0)
            self.wake.clear()

    def _note(self, message: str | None) -> None:
        if message:
            self.say(message)

    def _monitor(self) -> None:
        """Periodic tasks and liveness checks while the role runs (a daemon thread)."""
        now = time.monotonic()
        due = {id(c): now + c.service.period for c in self.children if c.service.periodic}
        interval = self.options.check_interval
        next_check = now + interval if interval else float("inf")
        while not self.stopping.wait(1.0):
            for child in list(self.children):
                if id(child) in due and time.monotonic() >= due[id(child)] and not self.stopping.is_set():
                    self._periodic(child)
                    due[id(child)] = time.monotonic() + child.service.period
            if time.monotonic() >= next_check:
                for child in list(self.children):
                    if not self.stopping.is_set():
                        self._check(child)
                if not self.stopping.is_set():  # the answers, for `mspass-role health --quick`
                    self.checked_at = time.time()
                    self._write_state(ready=True)
                next_check = time.monotonic() + interval

    def _periodic(self, child: _Child) -> None:
        """Run a service's periodic task; a failure is said at ERROR and recorded in the state
        file (health fails) until the task succeeds again (e.g. once a full disk has room)."""
        try:
            message = child.service.periodic()
        except Exception as err:  # noqa: BLE001 - any failure: say so, try again next period
            child.task_error = str(err)
            self.say(f"ERROR: {child.service.name}: {err}")
        else:
            if child.task_error is not None:
                self.say(f"{child.service.name}: its periodic task succeeds again")
            child.task_error = None
            self._note(message)
        self._write_state(ready=True)

    def _check(self, child: _Child) -> None:
        if child.service.probe is None or child.proc.poll() is not None:
            return  # a dead child is the watch loop's business
        reason = ask(child.service.probe)
        child.answer = "ok" if reason is None else reason
        if reason is None and child.failing_since is not None:
            self.say(f"{child.service.name} answers again (after {self._elapsed(child.failing_since)})")
            child.failing_since = None
        elif reason is not None and child.failing_since is None:
            child.failing_since = time.monotonic()
            self.say(f"WARNING: {child.service.name} (pid {child.proc.pid}) does not answer: {reason}")

    def _stopped_code(self) -> int:
        """Exit code after a requested stop: services stopped cleanly (0), but a batch run
        that was interrupted did not succeed (128+N, as a shell reports it)."""
        return 128 + self.signal_received if self.plan.services[-1].main else 0

    def _report_death(self, child: _Child) -> int:
        code = exit_code(child.proc.returncode)
        self.say(f"ERROR: {child.service.name} exited unexpectedly with code {code}")
        self._show_tail(child)
        meaning = child.service.explain_exit(code) if child.service.explain_exit else None
        if meaning:
            self.say(f"{child.service.name}: {meaning}")  # after the tail: the last thing a user reads
        return code or 1

    def _show_tail(self, child: _Child) -> None:
        if child.log is None:
            return
        child.log.wait(2.0)  # its last words first
        lines = log_tail(child.log.path)
        if lines:
            self.print("\n".join([f"mspass {self.plan.role}: last {len(lines)} lines of {child.log.path}:"]
                                 + [f"  | {line}" for line in lines]))

    # ----------------------------------------------------------------- stopping
    def _stop_all(self) -> bool:
        """Stop every child, the plan's last first; False when a service's after_stop failed."""
        ok = True
        order = {name: i for i, name in enumerate(self.plan.names())}
        for child in sorted(self.children, key=lambda c: order[c.service.name], reverse=True):
            self._stop(child)
            if child.log:
                child.log.close()
                if child.log.error:
                    self.say(f"WARNING: {child.service.name}'s log could not be written: {child.log.error}")
            if child.service.after_stop:
                try:
                    self._note(child.service.after_stop())
                except Exception as err:  # keep stopping the others; say what failed
                    self.say(f"ERROR: after stopping {child.service.name}: {err}")
                    ok = False
        self.children.clear()
        return ok

    def _stop(self, child: _Child) -> None:
        service, proc = child.service, child.proc
        if proc.poll() is not None:
            _signal_group(proc.pid, signal.SIGKILL)  # leftovers of a dead leader (e.g. nanny's workers)
            return
        since = time.monotonic()
        try:
            asked = bool(service.stop and service.stop())
        except Exception as err:  # noqa: BLE001 - it can still be signalled
            self.say(f"WARNING: cannot ask {service.name} to stop ({err}): sending {service.stop_signal}")
            asked = False
        if not asked:
            _signal_group(proc.pid, service.stop_signal)
        try:
            proc.wait(service.stop_timeout)
        except subprocess.TimeoutExpired:
            self.say(f"WARNING: {service.name} did not stop within {service.stop_timeout:g} s; killing it")
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        _signal_group(proc.pid, signal.SIGKILL)
        self.say(f"{service.name} stopped (exit code {exit_code(proc.returncode)}, {self._elapsed(since)})")

    def _write_state(self, ready: bool) -> None:
        with self.lock:
            if self.state_file:
                state.write(self.state_file, self._state(ready))

    def _state(self, ready: bool) -> dict:
        return {
            "role": self.plan.role,
            "node": self.options.node,
            "pid": os.getpid(),
            "ready": ready,
            "batch": bool(self.plan.services and self.plan.services[-1].main),
            # the supervisor's own checks: `health --quick` reports these while they are recent
            "checked_at": self.checked_at,
            "check_interval": self.options.check_interval,
            "services": [
                {
                    "name": c.service.name,
                    "pid": c.proc.pid,
                    "ready": c.ready,
                    "summary": c.service.summary,
                    "probe": c.service.probe.to_dict() if c.service.probe else None,
                    "urls": c.service.urls,
                    "answer": c.answer,
                    "task_error": c.task_error,
                }
                # in plan order, however the side-by-side start went
                for c in sorted(self.children, key=lambda c: self.plan.services.index(c.service))
            ],
        }


#: the exit code of a service that stopped waiting because another one failed (not reported)
_ABORTED = -1


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
