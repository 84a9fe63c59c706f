"""`mspass-role`: the container's entrypoint.

The argv contract is small (docker-library style): a role name, our own commands and
options are ours; any other first argument is a program, executed as given with no
services started (`docker run mspass bash`).
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import time

from . import __version__, probes, state
from .probes import Probe
from .roles import (BATCH_ROLES, BatchError, attach_plan, build_plan, check_batch_role, directories, ports_in_use,
                    resolve_batch)
from .settings import (ROLES, VARIABLES, Settings, SettingsError, default_work_dir, in_docker, mspasspy_version, notes,
                       readers)
from .supervisor import Options, Supervisor

PROG = "mspass-role"
COMMANDS = ("health", "config", "credentials")

USAGE = f"""\
usage: {PROG} [ROLE] [--batch FILE [ARGS...]]
       {PROG} health [--json] [--quick] | config | credentials [DIR] | --help | --version
       {PROG} PROGRAM [ARGS...]

Start the MsPASS services of one role, watch them, and stop them cleanly on
SIGTERM/SIGINT. The role comes from the first argument or MSPASS_ROLE (default: all).

roles:
  all         database + dask scheduler + worker + JupyterLab in one place
  db          the database server (mongod, or FerretDB where MongoDB is unavailable)
  scheduler   the dask scheduler
  worker      a dask worker connected to MSPASS_SCHEDULER_ADDRESS
  frontend    JupyterLab, connected to MSPASS_DB_ADDRESS and MSPASS_SCHEDULER_ADDRESS
  dbmanager   sharded MongoDB: config server and mongos; registers MSPASS_SHARD_LIST (mongod only)
  shard       sharded MongoDB: one shard, replica set MSPASS_SHARD_ID (mongod only)

options:
  --batch FILE [ARGS...]
              roles {' and '.join(BATCH_ROLES)}: run FILE instead of JupyterLab and exit
              with its status. A notebook (.ipynb) runs through a Jupyter kernel
              (papermill; magics work; ARGS are papermill options such as -p NAME VALUE)
              and its executed copy is saved as MSPASS_LOG_DIR/NAME.executed.ipynb; a
              script (.py) runs with python and ARGS. In an all-in-one container whose
              services already run, it runs against them.

commands:
  health      exit 0 when this role's services are ready; --json prints their state:
              readiness, addresses, URLs (Jupyter token); --quick uses the supervisor's
              last recorded answers while recent (the container health check)
  config      print the resolved settings, secrets redacted
  credentials make dask's certificates for roles in separate containers, once: a CA
              and one certificate it signed, in DIR (default WORK_DIR/.mspass/tls;
              the CA's key is deleted once it signed). Compose with a database login
              needs them: dask's workers hold the login (docs/configuration.md)
  PROGRAM     any other first argument runs as given, with no services (e.g. bash)

exit codes: 0 success; 2 invalid settings or arguments (nothing started); 1 or the
failed service's code when a service fails; a batch run's own code.

environment (name, default, meaning):
"""


def help_text() -> str:
    width = max(len(v.name) for v in VARIABLES)
    rows = [f"  {v.name:<{width}}  {v.help_default} (read by {readers(v)})\n  {'':<{width}}  {v.meaning}{notes(v)}"
            for v in VARIABLES]
    return USAGE + "\n".join(rows) + "\n"


def version_text() -> str:
    return f"{PROG} {__version__}, mspasspy {mspasspy_version() or '(not installed)'}"


class Refused(Exception):
    """Bad input: reported as one message listing every problem, exit code 2."""

    def __init__(self, problems: list[str], what: str = "invalid settings"):
        super().__init__(what)
        self.problems = problems
        self.what = what


def fail(problems: list[str], what: str = "invalid settings") -> int:
    print(f"{PROG}: {what} (nothing was started):", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    return 2


def load_settings(role: str | None = None) -> Settings:
    try:
        return Settings.from_env(role=role)
    except SettingsError as err:
        raise Refused(err.problems) from None


def main(argv: list[str] | None = None) -> int:
    try:
        return dispatch(list(sys.argv[1:] if argv is None else argv))
    except Refused as err:
        return fail(err.problems, err.what)


def dispatch(args: list[str]) -> int:
    first = args[0] if args else ""
    if first in ("-h", "--help", "help"):
        print(help_text(), end="")
        return 0
    if first == "--version":
        print(version_text())
        return 0
    if first == "health":
        return health(args[1:])
    if first == "config":
        return config()
    if first == "credentials":
        return credentials(args[1:])
    role = None
    if first in ROLES:
        role, args = first, args[1:]
    elif first and not first.startswith("-"):
        return passthrough(args)
    return run(role, args)


def parse_options(args: list[str]) -> tuple[str | None, list[str]]:
    if not args:
        return None, []
    if args[0] == "--batch":
        if len(args) < 2:
            raise Refused(["--batch needs a FILE (a .ipynb notebook or a .py script)"], "invalid arguments")
        return args[1], args[2:]
    if args[0].startswith("--batch="):
        return args[0].split("=", 1)[1], args[1:]
    raise Refused([f"unknown option {args[0]!r}; valid: --batch FILE, --help, --version"], "invalid arguments")


def already_runs(settings, pid: str) -> str:
    return (f"a {settings.role} role already runs on node {settings.node_name!r}{pid}; "
            "give this one another MSPASS_NODE_NAME")


def run(role: str | None, args: list[str]) -> int:
    batch_file, batch_args = parse_options(args)
    settings = load_settings(role)
    state_file = state.state_path(settings)
    try:
        if batch_file:
            check_batch_role(settings)  # before looking for the file: the more basic mistake
        batch = resolve_batch(batch_file, batch_args, settings) if batch_file else None
        running = state.read(state_file)
        # `docker exec` into a running all-in-one or Jupyter frontend (docker compose exec
        # frontend ...): run the file with the services that role uses, not a second role
        if batch and settings.role in ("all", "frontend") and running and running.get("ready") \
                and not running.get("batch"):
            plan = attach_plan(settings, batch)
            print(f"mspass {settings.role}: services already run here (pid {running['pid']}); running the "
                  "batch file against them", flush=True)
        elif running:
            raise BatchError(already_runs(settings, f" (pid {running['pid']})"))
        else:
            plan = build_plan(settings, batch)
            if state.hold(state_file) is None:  # two started at once: the lock settles it
                raise BatchError(already_runs(settings, ""))
            busy = ports_in_use(settings)
            if busy:  # a service that cannot listen would fail only once the others run
                raise Refused(busy, "cannot run")
    except (BatchError, NotImplementedError) as err:
        raise Refused([str(err)], "cannot run") from None
    except OSError as err:
        raise Refused([f"cannot lock {state.lock_path(state_file)}: {err.strerror}"],
                      "cannot prepare directories") from None
    for path, mode in directories(settings):
        try:
            path.mkdir(parents=True, exist_ok=True, mode=mode)  # parents: the umask's mode
        except OSError as err:
            raise Refused([f"cannot create {path}: {err.strerror}"], "cannot prepare directories") from None
    return Supervisor(plan, Options.for_role(settings, plan)).run()


def recent(data: dict, now: float) -> bool:
    """Whether a state's recorded answers still count for `health --quick`: two of the
    supervisor's check intervals plus a margin for a slow round (a frozen service takes
    its probe's whole timeout). Without checks (MSPASS_CHECK_INTERVAL=0), never."""
    interval = float(data.get("check_interval") or 0)
    return interval > 0 and now - float(data.get("checked_at") or 0) <= 2 * interval + 15


def health(args: list[str]) -> int:
    """Exit 0 when every service of this node's role answers its readiness probe.

    The role may have come from the command line (`docker run mspass db`), which a
    HEALTHCHECK does not see: without MSPASS_ROLE, any live role on this node counts.
    With --json, print the state files of those roles with each service's answer: the
    interface for launchers (readiness, addresses, URLs with the Jupyter token).
    With --quick, report the answers the supervisor recorded at its last check, while they
    are recent, instead of asking again: the container health check, run every few
    seconds, then costs a Python start-up, not dask's and pymongo's imports.
    """
    options = set(args)
    if not options <= {"--json", "--quick"} or len(options) != len(args):
        raise Refused([f"unknown option {' '.join(args)!r}; valid: health [--json] [--quick]"], "invalid arguments")
    settings = load_settings()
    if os.environ.get("MSPASS_ROLE"):
        running = [d for d in [state.read(state.state_path(settings))] if d]
    else:
        running = state.live_on_node(settings)
    lines = []
    now = time.time()
    for data in running:
        if not data.get("ready"):
            starting = [s["name"] for s in data["services"] if not s["ready"]] or ["(next service)"]
            lines.append(f"{data['role']}: starting: waiting for {', '.join(starting)}")
            continue
        recorded = "--quick" in options and recent(data, now)
        for svc in data["services"]:
            if recorded:
                answer = svc.get("answer") or "ok"
            else:
                reason = probes.ask(Probe.from_dict(svc["probe"])) if svc.get("probe") else None
                answer = "ok" if reason is None else reason
            # a failing periodic task (a tmp database's copy) fails health however the service answers
            answer = svc.get("task_error") or answer
            svc["health"] = answer
            lines.append(f"{data['role']} {svc['name']}: {'ok' if answer == 'ok' else 'FAILING: ' + answer}")
    healthy = bool(running) and all(d.get("ready") and all(s.get("health", "ok") == "ok" for s in d["services"])
                                    for d in running)
    if not running:
        role = settings.role if os.environ.get("MSPASS_ROLE") else "mspass"
        lines.append(f"unhealthy: no running {role} role on {settings.node_name}")
    if "--json" in options:
        print(json.dumps({"healthy": healthy, "roles": running}, indent=1))
    else:
        print("\n".join(lines))
    if probes.stuck():  # do not wait for a thread that waits for a frozen service
        sys.stdout.flush()
        os._exit(0 if healthy else 1)
    return 0 if healthy else 1


def config() -> int:
    settings = load_settings()
    for name, value in settings.resolved().items():
        print(f"{name}={value}")
    return 0


def credentials(args: list[str]) -> int:
    """dask's TLS files for a cluster of role containers (Compose), made once: a second run
    finds them and changes nothing. Settings are not read: they may name these very files."""
    from pathlib import Path

    from .credentials import CredentialsError, make_tls

    if len(args) > 1 or (args and args[0].startswith("-")):
        raise Refused([f"unknown arguments {' '.join(args)!r}; valid: credentials [DIR]"], "invalid arguments")
    work = os.environ.get("MSPASS_WORK_DIR") or default_work_dir(in_docker())
    directory = Path(args[0] if args else Path(work) / ".mspass" / "tls")
    files = [directory / name for name in ("ca.pem", "tls.pem", "tls.key")]
    if all(f.is_file() for f in files):
        print(f"{PROG}: dask's certificates are in {directory} already; nothing changed")
        return 0
    if directory.exists():
        raise Refused([f"{directory} exists without all of ca.pem, tls.pem, tls.key; remove it and run again"],
                      "cannot make credentials")
    try:
        directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_tls(directory)
    except (OSError, CredentialsError) as err:
        raise Refused([f"cannot make {directory}: {err}"], "cannot make credentials") from None
    print(f"{PROG}: made dask's CA and certificate in {directory} (mode 0700; the CA's key is gone)")
    return 0


def passthrough(args: list[str]) -> int:
    """Run a program instead of services (`docker run mspass bash`)."""
    import errno

    try:
        os.execvp(args[0], args)
    except FileNotFoundError:
        close = difflib.get_close_matches(args[0], ROLES + COMMANDS, n=1)
        if close:
            raise Refused([f"{args[0]!r} is neither a role nor a program; did you mean {close[0]!r}? "
                           f"valid roles: {', '.join(ROLES)}"], "invalid arguments") from None
        print(f"{PROG}: {args[0]}: command not found (not a role either; roles: {', '.join(ROLES)})",
              file=sys.stderr)
        return 127
    except OSError as err:  # e.g. not executable (EACCES)
        # ENOEXEC: an executable text file without #!, which a shell would run with sh
        reason = (f"not a program (no #! line); run it with its interpreter, e.g. bash {args[0]} or python {args[0]}"
                  if err.errno == errno.ENOEXEC else err.strerror)
        print(f"{PROG}: {args[0]}: {reason}", file=sys.stderr)
        return 126
    return 0  # not reached: exec replaced us


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
