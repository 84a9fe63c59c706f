"""One typed settings object built from the environment contract.

Everything is validated before anything starts, and every problem is reported in one
message (bitnami style). Nothing here starts processes; directory checks only read.
"""

from __future__ import annotations

import ast
import difflib
import ipaddress
import os
import re
import shlex
import socket
import stat
import tempfile
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from .probes import redact_uri

ROLES = ("all", "db", "dbmanager", "shard", "scheduler", "worker", "frontend")
SCHEDULERS = ("dask", "spark", "none")
DB_ENGINES = ("auto", "mongodb", "ferretdb")
DB_PATHS = ("scratch", "tmp")

#: roles that run a database server in this process tree
DB_ROLES = ("all", "db", "dbmanager", "shard")
SHARDED_ROLES = ("dbmanager", "shard")
#: engines that implement sharding and replica sets
SHARDING_ENGINES = ("mongodb",)
#: the longest node name: Linux's host names (HOST_NAME_MAX)
NODE_NAME_MAX = 64
#: bind addresses that mean "every interface"
ANY_ADDRESS = ("0.0.0.0", "::", "")


def installed_mspass_home() -> str | None:
    """The installed mspasspy package's directory (MsPASS reads its schema from data/yaml
    there), found without importing it; None when mspasspy is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("mspasspy")
    locations = spec.submodule_search_locations if spec else None
    return str(locations[0]) if locations else None


def mspasspy_version() -> str | None:
    """The installed mspasspy's version, from its metadata (no import); None without it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mspasspy")
    except PackageNotFoundError:
        return None


#: roles whose processes run MsPASS code (and read MSPASS_HOME)
MSPASS_ROLES = ("all", "worker", "frontend")


def in_docker() -> bool:
    """Whether this runs in a Docker (or Compose) container: its engine makes /.dockerenv."""
    return os.path.exists("/.dockerenv")


def default_work_dir(in_container: bool) -> str:
    """MSPASS_WORK_DIR's default: /home in a container (MsPASS's convention: the user's
    directory is mounted there), else the current directory."""
    return "/home" if in_container else os.getcwd()


def local_address(bind: str) -> str:
    """How processes on this node reach a service bound to `bind`. Jupyter (tornado) bound to
    '::' listens on IPv6 only, so its probe went to 127.0.0.1 and never had an answer."""
    if bind == "::":
        return "::1"
    return "127.0.0.1" if bind in ANY_ADDRESS else bind


def is_local_address(host: str) -> bool:
    """True when `host` (an IP or a name resolving to some) is an address of this machine: a
    socket can be bound to it. Nothing listens: the socket is closed at once."""
    try:
        found = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    for family, kind, proto, _, address in found:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.bind(address)  # port 0: any free one; EADDRNOTAVAIL: not this machine's
            return True
        except OSError:
            continue
    return False


def announced_address(bind: str) -> str:
    """The name a service bound to `bind` gives others: this host's name for every
    interface (it resolves to an address they reach), else the bind address itself."""
    return socket.gethostname() if bind in ANY_ADDRESS else bind


@dataclass(frozen=True)
class Var:
    """One variable of the environment contract, declared once: `Settings`, its resolved
    view (`config`), `--help`, the README table and the launchers' port defaults all come
    from these declarations."""

    name: str
    #: the Settings attribute that holds its parsed value
    field: str
    meaning: str
    #: the real default, as the variable's text ("" for none)
    default: str = ""
    #: how it parses: a generic kind (choice, port, seconds, seconds0, text, words) or
    #: "rule": parsed by a rule of its own in _Parser, with the variables it depends on
    kind: str = "text"
    #: the default as people read it, where it is computed (e.g. "WORK_DIR/db")
    shown: str = ""
    #: the roles that read it
    roles: tuple[str, ...] = ROLES
    choices: tuple[str, ...] = ()
    #: for a choice: what a valid value is, e.g. "a role" (in "X='y' is not a role")
    what: str = ""
    secret: bool = False
    #: NAME_FILE may give the value instead: the file's text (the official mongo image's
    #: convention for secrets: a mounted file keeps them out of `docker inspect`)
    file_ok: bool = False
    #: the parsed value as `config` shows it; by kind when None
    show: Callable[[Any], str] | None = None
    #: seconds: the valid range (beside 0 for seconds0); past it a setting is a mistake (inf
    #: would blind the health checks, 0.001 would make them a storm)
    bounds: tuple[float, float] = (0.1, 86400.0)

    @property
    def help_default(self) -> str:
        return self.shown or self.default or "(empty)"

    def display(self, value: Any) -> str:
        if self.show is not None:
            return self.show(value)
        if self.kind in ("seconds", "seconds0"):
            return f"{value:g}"
        if self.kind == "words":
            return " ".join(value)
        return "" if value is None else str(value)


SCHEDULER_ROLES = ("all", "scheduler", "worker", "frontend")
WORKER_ROLES = ("all", "worker")
FRONTEND_ROLES = ("all", "frontend")
#: roles that run the database or connect to it for the notebook
DB_CLIENT_ROLES = ("all", "db", "dbmanager", "shard", "frontend")


def _port(name: str, field: str, default: int, meaning: str, roles: tuple[str, ...]) -> Var:
    return Var(name, field, meaning, str(default), "port", roles=roles)


#: dask's own TLS settings, as its environment variables name them: each dask role reads
#: its certificate and key (distributed.comm.tls.scheduler.cert, ...); we read them too, to
#: listen on tls:// and to say at start what is missing
DASK_TLS = "DASK_DISTRIBUTED__COMM__TLS__"
DASK_TLS_ROLES = {"scheduler": ("all", "scheduler"), "worker": WORKER_ROLES, "client": FRONTEND_ROLES}


def _dask_tls_variables() -> list[Var]:
    found = [Var(f"{DASK_TLS}CA_FILE", "dask_tls_ca_file", "dask's CA file (PEM); given, dask's scheduler and "
                 "workers listen on tls:// and every dask connection needs a certificate it signed",
                 kind="rule", roles=SCHEDULER_ROLES)]
    for who, roles in DASK_TLS_ROLES.items():
        found += [Var(f"{DASK_TLS}{who.upper()}__{part.upper()}", f"dask_tls_{who}_{part}",
                      f"with the CA file: the dask {who}'s {what} (PEM)", kind="rule", roles=roles)
                  for part, what in (("cert", "certificate"), ("key", "private key"))]
    return found


#: The environment contract.
VARIABLES = (
    Var("MSPASS_ROLE", "role", "one of: " + ", ".join(ROLES), "all", "rule", choices=ROLES, what="a role"),
    Var("MSPASS_SCHEDULER", "scheduler", "one of: " + ", ".join(SCHEDULERS), "dask", "choice",
        choices=SCHEDULERS, what="a scheduler", roles=SCHEDULER_ROLES),
    Var("MSPASS_SCHEDULER_ADDRESS", "scheduler_address", "scheduler host, host:port or URI (tcp://, tls://, spark://)",
        kind="rule", shown="this host (all, scheduler); required by worker, frontend", roles=SCHEDULER_ROLES,
        show=lambda a: a.hostport if a else ""),
    Var("MSPASS_DB_ADDRESS", "db_address", "database host, host:port or mongodb:// URI", kind="rule",
        shown="this host (all, db); required by frontend", roles=("all", "db", "frontend"),
        show=lambda a: a.shown if a else ""),
    Var("MSPASS_DB_ENGINE", "db_engine", "auto (mongod if installed, else ferretdb), mongodb, ferretdb", "auto",
        "rule", choices=DB_ENGINES, what="a database engine", roles=DB_ROLES),
    _port("MONGODB_PORT", "mongodb_port", 27017, "port the database server listens on", ROLES),
    _port("DASK_SCHEDULER_PORT", "dask_scheduler_port", 8786, "dask scheduler port", SCHEDULER_ROLES),
    _port("DASK_DASHBOARD_PORT", "dask_dashboard_port", 8787, "dask dashboard port", ("all", "scheduler")),
    _port("SPARK_MASTER_PORT", "spark_master_port", 7077, "Spark master port", SCHEDULER_ROLES),
    _port("JUPYTER_PORT", "jupyter_port", 8888, "Jupyter port", FRONTEND_ROLES),
    _port("SPARK_MASTER_WEBUI_PORT", "spark_master_webui_port", 8080,
          "Spark master web UI port (its readiness probe)", ("all", "scheduler")),
    _port("SPARK_WORKER_WEBUI_PORT", "spark_worker_webui_port", 8081,
          "Spark worker web UI port (its readiness probe)", WORKER_ROLES),
    Var("SPARK_WORKER_CORES", "spark_worker_cores", "cores a Spark worker offers", kind="rule",
        shown="the CPUs this container may use", roles=WORKER_ROLES, show=lambda n: str(n or "")),
    Var("SPARK_WORKER_MEMORY", "spark_worker_memory", "memory a Spark worker offers, e.g. 4g", kind="rule",
        shown="this container's memory - 1 GiB", roles=WORKER_ROLES),
    Var("MSPASS_SPARK_DRIVER_HOST", "spark_driver_host", "address Spark executors use to reach the frontend's "
        "driver", kind="rule", shown="this node's address toward the master", roles=FRONTEND_ROLES),
    _port("MSPASS_SPARK_DRIVER_PORT", "spark_driver_port", 7078,
          "Spark driver port (fixed, so containers can be wired)", FRONTEND_ROLES),
    _port("MSPASS_SPARK_BLOCKMANAGER_PORT", "spark_blockmanager_port", 7079,
          "Spark block manager port of the driver", FRONTEND_ROLES),
    Var("MSPASS_BIND_ADDRESS", "bind_address", "address services listen on", "0.0.0.0", "rule"),
    Var("MSPASS_SERVICE_ADDRESS", "service_address", "address the database and dask's scheduler and workers "
        "listen on; role all keeps them to its container unless told otherwise (they have no login by default), "
        "while Jupyter and the dashboard listen on MSPASS_BIND_ADDRESS, to be published", kind="rule",
        shown="MSPASS_BIND_ADDRESS; role all without MSPASS_BIND_ADDRESS: 127.0.0.1",
        roles=("all", "db", "dbmanager", "shard", "scheduler", "worker")),
    Var("MSPASS_DASHBOARD_ADDRESS", "dashboard_address", "address the dask dashboard listens on (it has no "
        "login): 127.0.0.1 keeps it to this node, reached through an ssh tunnel (mspass-hpc does so)", kind="rule",
        shown="MSPASS_BIND_ADDRESS", roles=("all", "scheduler")),
    Var("DASK_DISTRIBUTED__DASHBOARD__LINK", "dashboard_link", "dask's own setting: the dashboard link a notebook's "
        "dask client shows (`dask_client`, `dask_client.dashboard_link`); mspass-desktop, compose.yaml and "
        "mspass-hpc set the address the user's browser reaches", shown="dask's {scheme}://{host}:{port}/status, "
        "the scheduler's address as the frontend reaches it", roles=FRONTEND_ROLES),
    Var("DASK_DISTRIBUTED__CLIENT__PRELOAD", "client_preload", "dask's own setting: modules each dask client of a "
        "notebook preloads, a name or a list; the frontend adds mspass_roles.dask_compat (MsPASS's documented "
        "`register_worker_plugin`)", kind="rule", shown="mspass_roles.dask_compat", roles=FRONTEND_ROLES,
        show=lambda modules: repr(list(modules))),
    Var("MSPASS_NODE_NAME", "node_name", "name of this node in logs and worker names", kind="rule",
        shown="host name"),
    Var("MSPASS_WORK_DIR", "work_dir", "run directory; notebooks live here", kind="rule",
        shown="/home in docker, else cwd"),
    Var("MSPASS_DB_DIR", "db_dir", "database files", kind="rule", shown="WORK_DIR/db", roles=DB_ROLES),
    Var("MSPASS_LOG_DIR", "log_dir", "service logs and executed notebooks", kind="rule", shown="WORK_DIR/logs"),
    Var("MSPASS_WORKER_DIR", "worker_dir", "worker scratch space", kind="rule", shown="WORK_DIR/work",
        roles=WORKER_ROLES),
    Var("MSPASS_RUN_DIR", "run_dir", "runtime state (health check, Jupyter config)", kind="rule",
        shown="TMPDIR/mspass-UID"),
    Var("MSPASS_DB_PATH", "db_path", "scratch: run the database in MSPASS_DB_DIR; tmp: run it from node-local "
        "/tmp, copied to MSPASS_DB_DIR every MSPASS_DB_SYNC_INTERVAL and on shutdown", "scratch", "choice",
        choices=DB_PATHS, what="a database location", roles=DB_ROLES),
    Var("MSPASS_DB_SYNC_INTERVAL", "db_sync_interval", "MSPASS_DB_PATH=tmp: seconds between copies of the live "
        "database to MSPASS_DB_DIR (the most a crash that also loses node-local /tmp can lose); 0: only on "
        "shutdown", "300", "seconds0",
        roles=DB_ROLES, bounds=(1, 86400)),
    Var("MSPASS_WORKER_ARG", "worker_args", "extra `dask worker` arguments, shell-quoted; they win over "
        "ours (e.g. `--dashboard`: the worker's own dashboard is off by default)", kind="rule",
        roles=WORKER_ROLES, show=lambda args: shlex.join(args.argv)),
    Var("MSPASS_DASK_WORKER_MEMORY_LIMIT", "memory_limit", "worker --memory-limit (0: none); "
        "a --memory-limit in MSPASS_WORKER_ARG wins", "0", "rule", roles=WORKER_ROLES),
    Var("MSPASS_JUPYTER_TOKEN", "jupyter_token", "Jupyter token", kind="rule", shown="random",
        roles=FRONTEND_ROLES, secret=True, file_ok=True, show=lambda v: "<redacted>" if v else "<random>"),
    Var("MSPASS_JUPYTER_PWD", "jupyter_password", "Jupyter password (stored hashed)", kind="rule",
        roles=FRONTEND_ROLES, secret=True, file_ok=True, show=lambda v: "<redacted>" if v else ""),
    Var("MONGO_INITDB_ROOT_USERNAME", "db_username", "database user: with the password, the database requires "
        "authentication (its user is created in an empty data directory) and clients connect as this user",
        kind="rule", roles=DB_CLIENT_ROLES, file_ok=True),
    Var("MONGO_INITDB_ROOT_PASSWORD", "db_password", "that user's password", kind="rule", roles=DB_CLIENT_ROLES,
        secret=True, file_ok=True, show=lambda v: "<redacted>" if v else ""),
    *_dask_tls_variables(),
    Var("MSPASS_SPARK_SECRET", "spark_secret", "the Spark cluster's shared secret (spark.authenticate): master, "
        "workers and the frontend's driver must have the same; given, Spark's RPC refuses anyone without it",
        kind="rule", roles=SCHEDULER_ROLES, secret=True, file_ok=True, show=lambda v: "<redacted>" if v else ""),
    Var("MSPASS_SHARD_LIST", "shard_list", "the shards, space-separated ID/HOST:PORT (ID: each shard's "
        "MSPASS_SHARD_ID); registered by id, so a restart may move them to other hosts", kind="words",
        roles=("dbmanager",)),
    Var("MSPASS_SHARD_ID", "shard_id", "this shard's id and replica-set name, the same on every start (its data: "
        "MSPASS_DB_DIR/shard-ID)", roles=("shard",)),
    Var("MSPASS_SHARD_DATABASE", "shard_database", "the database whose MSPASS_SHARD_COLLECTIONS are sharded",
        roles=("dbmanager",)),
    Var("MSPASS_SHARD_COLLECTIONS", "shard_collections", "COLLECTION:KEY entries, each sharded on a hashed KEY",
        kind="words", roles=("dbmanager",)),
    Var("MSPASS_CONFIG_SERVER_ADDR", "config_server_addr", "shard: the config server as configserver/HOST:PORT "
        "now; existing shard data that records another one is told this one before the shard starts (a "
        "restore after the dbmanager moved; mspass-hpc sets it)", roles=("shard",)),
    Var("MSPASS_DB_READY_FILE", "db_ready_file", "touched when the database is ready", kind="rule",
        roles=DB_ROLES),
    Var("MSPASS_SLEEP_TIME", "sleep_time", "longest interval between retries while waiting, seconds (the "
        "reference slept a fixed 15 s)", "2", "seconds", bounds=(0.1, 300)),
    Var("MSPASS_WAIT_TIMEOUT", "wait_timeout", "how long a role waits for the services it needs, seconds",
        "300", "seconds", bounds=(1, 7 * 86400)),
    Var("MSPASS_READY_TIMEOUT", "ready_timeout", "how long a started service may take to become ready, seconds",
        "180", "seconds", bounds=(1, 86400)),
    Var("MSPASS_CHECK_INTERVAL", "check_interval", "seconds between the supervisor's checks that its running "
        "services still answer (a warning when one stops answering; `health --quick` reports these answers); "
        "0: no checks", "10", "seconds0", bounds=(1, 3600)),
    Var("MSPASS_STOP_TIMEOUT", "stop_timeout", "grace period for the database to shut down, seconds", "60",
        "seconds", roles=DB_ROLES, bounds=(1, 3600)),
    Var("MSPASS_HOME", "mspass_home", "MsPASS's data (schema YAML in data/yaml); exported to every service",
        kind="rule", shown="the installed mspasspy package", roles=MSPASS_ROLES),
)
BY_NAME = {v.name: v for v in VARIABLES}
#: each port variable's default: the launchers (desktop, HPC) publish and move these
DEFAULT_PORTS = {v.name: int(v.default) for v in VARIABLES if v.kind == "port"}
VARIABLE_NAMES = tuple(v.name for v in VARIABLES)
#: what the supervisor keeps from its children: they get these in private files, or as
#: credentials in the database URI a notebook reads
PRIVATE_NAMES = tuple(n for v in VARIABLES if v.file_ok for n in (v.name, v.name + "_FILE"))


def listening_ports(role: str, scheduler: str) -> list[str]:
    """The port variables of the fixed ports a role listens on (mongod, the dask scheduler
    and dashboard, Spark's master and UIs, Jupyter, Spark's driver); the config server's
    port of a dbmanager (MONGODB_PORT + 1) and dask workers' ports are not fixed."""
    names: list[str] = []
    if role in DB_ROLES:
        names.append("MONGODB_PORT")
    if role in ("all", "scheduler"):
        names += {"dask": ["DASK_SCHEDULER_PORT", "DASK_DASHBOARD_PORT"],
                  "spark": ["SPARK_MASTER_PORT", "SPARK_MASTER_WEBUI_PORT"]}.get(scheduler, [])
    if role in WORKER_ROLES and scheduler == "spark":
        names.append("SPARK_WORKER_WEBUI_PORT")
    if role in FRONTEND_ROLES:
        names.append("JUPYTER_PORT")
        if scheduler == "spark":
            names += ["MSPASS_SPARK_DRIVER_PORT", "MSPASS_SPARK_BLOCKMANAGER_PORT"]
    return names


#: the most a secret file (NAME_FILE) may hold: a token, password or key is far smaller; a
#: wrong path (a disk image, /dev/zero) must not fill the memory
SECRET_FILE_MAX = 64 * 1024
#: each secret file's text (or why it cannot be had), by variable and path: read once per
#: process, since the supervisor's checks and probes ask for the login again and again
_SECRET_FILES: dict[tuple[str, str], str | ValueError] = {}
#: what a file that is not a regular one is, by stat's test
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def size_text(size: int) -> str:
    """A size as people read it: bytes, or whole KiB, MiB, GiB when it is one."""
    for unit, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size:,} bytes"


def read_secret_file(path: str) -> str:
    """The text of a secret file: a regular file of at most SECRET_FILE_MAX bytes. ValueError
    saying what is wrong (the caller names the variable and the path)."""
    unreadable = f"cannot be read by uid {os.getuid()}"
    try:
        # O_NONBLOCK: opening a FIFO would wait for a writer, and the role with it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise ValueError(f"{unreadable}: {err.strerror}") from None
    try:
        status = os.fstat(fd)
        for test, kind in _FILE_KINDS:
            if test(status.st_mode):
                raise ValueError(f"is {kind}, not a regular file; valid: a file holding the secret")
        limit = f"a secret file holds at most {size_text(SECRET_FILE_MAX)}"
        if status.st_size > SECRET_FILE_MAX:
            raise ValueError(f"is {size_text(status.st_size)}; {limit}")
        data = b""
        while len(data) <= SECRET_FILE_MAX and (part := os.read(fd, SECRET_FILE_MAX + 1 - len(data))):
            data += part  # capped too when it grows, or says size 0 (as /proc's files do)
        if len(data) > SECRET_FILE_MAX:
            raise ValueError(f"is more than {size_text(SECRET_FILE_MAX)}; {limit}")
    except OSError as err:
        raise ValueError(f"{unreadable}: {err.strerror}") from None
    finally:
        os.close(fd)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ValueError("is not text (UTF-8); valid: a file holding the secret") from None


def env_value(env: Mapping[str, str], name: str) -> str | None:
    """NAME's value, or for a variable declared file_ok the text of the file NAME_FILE names
    (one trailing newline dropped, as `echo secret > file` adds one). None when neither is
    set. ValueError, naming the variable, when both are or the file cannot be read."""
    value, path = env.get(name) or None, env.get(name + "_FILE") or None
    if path is None or not BY_NAME[name].file_ok:
        return value
    if value is not None:
        raise ValueError(f"{name} and {name}_FILE are both set; valid: one of them")
    if (name, path) not in _SECRET_FILES:
        try:
            _SECRET_FILES[name, path] = read_secret_file(path)
        except ValueError as err:
            _SECRET_FILES[name, path] = ValueError(f"{name}_FILE={path!r} {err}")
    text = _SECRET_FILES[name, path]
    if isinstance(text, ValueError):
        raise text
    return text[:-1] if text.endswith("\n") else text


def with_credentials(uri: str, credentials: tuple[str, str] | None) -> str:
    """A mongodb:// URI with USER:PASSWORD@ (percent-encoded) after its scheme; unchanged
    without credentials."""
    if not credentials:
        return uri
    from urllib.parse import quote

    scheme, rest = uri.split("://", 1)
    return f"{scheme}://{quote(credentials[0], safe='')}:{quote(credentials[1], safe='')}@{rest}"


def login_options(credentials: tuple[str, str] | None) -> dict[str, str]:
    """pymongo.MongoClient's options for a login as the database's root user; {} for none."""
    if not credentials:
        return {}
    return {"username": credentials[0], "password": credentials[1], "authSource": "admin"}


def db_credentials(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(user, password) the database requires, from the environment; None without them."""
    user, password = env_value(env, "MONGO_INITDB_ROOT_USERNAME"), env_value(env, "MONGO_INITDB_ROOT_PASSWORD")
    return (user, password) if user and password else None


class SettingsError(Exception):
    """Invalid settings; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Address:
    """A host and port, optionally given as a URI (kept for clients)."""

    host: str
    port: int
    uri: str | None = field(default=None, repr=False)  # may hold credentials
    #: False for a mongodb:// URI naming several servers (host and port are the first one's)
    #: and for mongodb+srv:// (host is the DNS name its servers are found under; port is 0:
    #: the servers' ports come from DNS too)
    single_host: bool = True

    @property
    def url_host(self) -> str:
        """The host as it appears in a URL or before ':port' (IPv6 in brackets)."""
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def hostport(self) -> str:
        return f"{self.url_host}:{self.port}"

    @property
    def mongodb_uri(self) -> str:
        return self.uri if self.uri and self.uri.startswith("mongodb") else f"mongodb://{self.hostport}/"

    @property
    def shown(self) -> str:
        """host:port; an address that is more than one server shows as its URI with the
        user and password masked (for `config`)."""
        if self.single_host or not self.uri:
            return self.hostport
        return redact_uri(self.uri)


@dataclass(frozen=True)
class WorkerArgs:
    """MSPASS_WORKER_ARG, split with shlex, and the options we must not duplicate."""

    argv: tuple[str, ...] = ()

    def value(self, option: str) -> str | None:
        """The option's value; the last one when repeated, as dask's command line takes it."""
        found = None
        for i, arg in enumerate(self.argv):
            if arg == option and i + 1 < len(self.argv):
                found = self.argv[i + 1]
            elif arg.startswith(option + "="):
                found = arg.split("=", 1)[1]
        return found

    def has(self, option: str) -> bool:
        return any(a == option or a.startswith(option + "=") for a in self.argv)


class SettingsView:
    """What Settings can say beyond its fields (derived values, the client's environment,
    the resolved view). Settings itself is made from VARIABLES below: one field per
    variable, named by its declaration, secrets kept out of repr()."""

    # ------------------------------------------------------------------ derived
    @property
    def binds_all(self) -> bool:
        return self.bind_address in ANY_ADDRESS

    @property
    def local_host(self) -> str:
        """How processes on this node reach services bound to bind_address."""
        return local_address(self.bind_address)

    def local_hostport(self, port: int) -> str:
        """local_host:port, IPv6 in brackets (for URLs and probes)."""
        return Address(self.local_host, port).hostport

    def bind_hostport(self, port: int) -> str:
        return Address(self.bind_address or "0.0.0.0", port).hostport

    @property
    def service_binds_all(self) -> bool:
        return self.service_address in ANY_ADDRESS

    def service_hostport(self, port: int) -> str:
        """Where the database or dask listens (MSPASS_SERVICE_ADDRESS), for argv and messages."""
        return Address(self.service_address or "0.0.0.0", port).hostport

    def local_service_hostport(self, port: int) -> str:
        """How processes on this node reach the database or dask, for probes."""
        return Address(local_address(self.service_address), port).hostport

    @property
    def service_url_host(self) -> str:
        """The service address as dask's --host wants it (IPv6 in brackets)."""
        return Address(self.service_address, 0).url_host

    @property
    def bind_url_host(self) -> str:
        """The bind address as dask's --host wants it (IPv6 in brackets)."""
        return Address(self.bind_address, 0).url_host

    @property
    def announced_host(self) -> str:
        return announced_address(self.bind_address)

    @property
    def runs_db(self) -> bool:
        return self.role in DB_ROLES

    @property
    def dask_scheme(self) -> str:
        """How dask connections go: tls:// when dask's CA file is given."""
        return "tls" if self.dask_tls_ca_file else "tcp"

    @property
    def dask_scheduler_url(self) -> str:
        assert self.scheduler_address is not None, "only for roles with a scheduler address"
        return f"{self.dask_scheme}://{self.scheduler_address.hostport}"

    def dask_tls_files(self, who: str) -> tuple[str, str, str] | None:
        """Over tls://, dask's CA file and the certificate and key of `who` (a DASK_TLS_ROLES
        key) to connect with; None over tcp://."""
        if self.dask_scheme != "tls":
            return None
        return self.dask_tls_ca_file, getattr(self, f"dask_tls_{who}_cert"), getattr(self, f"dask_tls_{who}_key")

    @property
    def db_credentials(self) -> tuple[str, str] | None:
        return (self.db_username, self.db_password) if self.db_username else None

    def client_env(self) -> dict[str, str]:
        """Variables the frontend exports so mspasspy.client.Client() and
        dask.distributed.Client() find the services with no arguments.

        Hosts are exported bare and ports separately because mspasspy's Client appends
        MONGODB_PORT / DASK_SCHEDULER_PORT to the address it reads.
        """
        env = {
            "MSPASS_SCHEDULER": self.scheduler,
            "MONGODB_PORT": str(self.mongodb_port),
            "DASK_SCHEDULER_PORT": str(self.dask_scheduler_port),
            "SPARK_MASTER_PORT": str(self.spark_master_port),
            "MSPASS_WORK_DIR": str(self.work_dir),
            "MSPASS_LOG_DIR": str(self.log_dir),
        }
        credentials = self.db_credentials
        if self.db_address and self.db_address.single_host:
            # with credentials, "mongodb://USER:PASSWORD@HOST": still an address that code
            # (mspasspy's Client among it) completes with ":" + MONGODB_PORT, and the only way
            # credentials reach the pymongo client mspasspy makes from it
            host = self.db_address.url_host
            env["MSPASS_DB_ADDRESS"] = with_credentials(f"mongodb://{host}", credentials) if credentials else host
            env["MONGODB_PORT"] = str(self.db_address.port)
            env["MSPASS_DB_URI"] = with_credentials(self.db_address.mongodb_uri, credentials)
        elif self.db_address:
            # several servers or mongodb+srv: mspasspy 2.4.3's Client() hands MSPASS_DB_ADDRESS,
            # plus ":" + MONGODB_PORT unless that is empty, to pymongo.MongoClient, which takes a
            # whole URI. So the URI, and an empty MONGODB_PORT (set, so that an inherited one
            # is not appended): one host would lose the others and the replica set options.
            env["MSPASS_DB_ADDRESS"] = with_credentials(self.db_address.mongodb_uri, credentials)
            env["MONGODB_PORT"] = ""
            env["MSPASS_DB_URI"] = env["MSPASS_DB_ADDRESS"]
        if self.scheduler_address:
            env["MSPASS_SCHEDULER_ADDRESS"] = self.scheduler_address.url_host
            if self.scheduler == "dask":
                if self.dask_scheme != "tcp":  # mspasspy's Client appends ":" + DASK_SCHEDULER_PORT
                    env["MSPASS_SCHEDULER_ADDRESS"] = f"{self.dask_scheme}://{self.scheduler_address.url_host}"
                env["DASK_SCHEDULER_PORT"] = str(self.scheduler_address.port)
                env["DASK_SCHEDULER_ADDRESS"] = self.dask_scheduler_url
            elif self.scheduler == "spark":
                env["SPARK_MASTER_PORT"] = str(self.scheduler_address.port)
                env["SPARK_MASTER_URL"] = f"spark://{self.scheduler_address.hostport}"
        if self.scheduler == "dask":
            env["DASK_DISTRIBUTED__CLIENT__PRELOAD"] = repr(list(self.client_preload))
            # a notebook's first cell shows warnings, not distributed's INFO lines (each preload
            # logs three); the notebook's client only: the services keep their own levels
            env["DASK_LOGGING__DISTRIBUTED"] = "warning"
        if self.mspass_home:
            env["MSPASS_HOME"] = self.mspass_home
        return env

    def resolved(self) -> dict[str, str]:
        """The contract variables as this object understands them (secrets redacted)."""
        return {var.name: var.display(getattr(self, var.field)) for var in VARIABLES}

    # ------------------------------------------------------------------ building
    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        role: str | None = None,
        which=None,
        in_container: bool | None = None,
        find_mspasspy=installed_mspass_home,
        is_local=is_local_address,
    ) -> "Settings":
        """Build and validate. Raises SettingsError listing every problem.

        `which` finds executables (shutil.which); `in_container` overrides the
        /.dockerenv check; `find_mspasspy` finds the installed MsPASS package; `is_local`
        says whether an address is this machine's. They are parameters so that unit tests
        stay pure.
        """
        return _Parser(
            os.environ if env is None else env,
            role,
            which,
            in_docker() if in_container is None else in_container,
            find_mspasspy,
            is_local,
        ).parse()


Settings = make_dataclass(
    "Settings",
    [(var.field, Any, field(repr=not var.secret)) for var in VARIABLES],
    bases=(SettingsView,),
    frozen=True,
)
Settings.__module__ = __name__  # make_dataclass's own `module` argument needs Python 3.12


# ---------------------------------------------------------------------- parsing
_HOST_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?$")
_BYTES_RE = re.compile(r"^(auto|\d+(\.\d+)?\s*([kmgtp]i?b?|b)?)$", re.IGNORECASE)
MIN_WORKER_MEMORY = 256 * 2**20
#: characters FerretDB cannot have in its data directory: its SQLite URL file:PATH/ ends at
#: # and ?, % starts an escape there; * [ \ and ? are patterns in the glob that finds its
#: databases again (escaping does not help: FerretDB writes the decoded path back raw)
FERRETDB_PATH_UNSAFE = "#?%*[\\"
#: the first line of a PEM certificate and of a private key (PKCS#8, or OpenSSL's EC and RSA forms)
PEM_BEGIN = {"certificate": re.compile(r"^-----BEGIN CERTIFICATE-----", re.MULTILINE),
             "private key": re.compile(r"^-----BEGIN ([A-Z]+ )?PRIVATE KEY-----", re.MULTILINE)}


#: how each address scheme is written, for the "valid:" part of messages
URI_FORMS = {
    "tcp": "tcp://HOST:PORT",
    "tls": "tls://HOST:PORT",
    "spark": "spark://HOST:PORT",
    "mongodb": "mongodb://HOST:PORT[,HOST:PORT...][/?OPTIONS]",
    "mongodb+srv": "mongodb+srv://HOST[/?OPTIONS]",
}


def srv_name(uri: str) -> str:
    """The DNS name of a mongodb+srv:// URI, checked with pymongo's own parts but without the
    DNS lookup its parse_uri makes: settings are checked offline, and on every health check."""
    from pymongo.errors import InvalidURI
    from pymongo.uri_parser import parse_userinfo, split_hosts, split_options

    hosts_database, _, options = uri[len("mongodb+srv://"):].partition("?")
    userinfo, _, hosts = hosts_database.partition("/")[0].rpartition("@")
    if userinfo:
        parse_userinfo(userinfo)
    if options:
        split_options(options)
    nodes = split_hosts(hosts, default_port=None)
    if len(nodes) != 1:
        raise InvalidURI("a mongodb+srv:// URI names one host, whose servers DNS lists")
    if nodes[0][1] is not None:
        raise InvalidURI("a mongodb+srv:// URI has no port: DNS gives the servers' ports")
    return nodes[0][0]


def is_host(value: str) -> bool:
    """An IP address, or a host name (digits and dots alone must make an IPv4 address)."""
    try:
        ipaddress.ip_address(value[1:-1] if value.startswith("[") and value.endswith("]") else value)
        return True
    except ValueError:
        return ":" not in value and not re.fullmatch(r"[\d.]+", value) and bool(_HOST_RE.match(value))


def memory_bytes(size: str) -> float:
    """Bytes of a memory size as dask reads it (`_BYTES_RE`); 0 for auto, 0 and fractions <= 1."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?", size.strip(), re.IGNORECASE)
    if not match:
        return 0
    number, prefix, binary = float(match[1]), match[2].lower(), match[3]
    if not prefix and number <= 1:
        return 0  # 0: no limit; 0.5: a fraction of the machine's memory
    power = "kmgtp".find(prefix) + 1 if prefix else 0
    return number * (1024 if binary else 1000) ** power


class _Parser:
    def __init__(self, env, role_override, which, in_container, find_mspasspy, is_local=is_local_address):
        import shutil

        self.env = env
        self.role_override = role_override
        self.which = which or shutil.which
        self.in_container = in_container
        self.find_mspasspy = find_mspasspy
        self.is_local = is_local
        self.problems: list[str] = []
        #: variables whose value could not be had (e.g. a bad NAME_FILE): a problem said once
        self.unreadable: set[str] = set()

    # helpers ---------------------------------------------------------------
    def raw(self, name: str) -> str | None:
        """The value as given (NAME or NAME_FILE), unstripped; None when unset."""
        try:
            return env_value(self.env, name)
        except ValueError as err:
            if name not in self.unreadable:
                self.problem(str(err))
            self.unreadable.add(name)
            return None

    def get(self, name: str, default: str = "") -> str:
        value = self.raw(name) if name in BY_NAME else self.env.get(name)
        return default if value is None or value.strip() == "" else value.strip()

    def problem(self, msg: str) -> None:
        self.problems.append(msg)

    def choice(self, name: str, default: str, valid: tuple[str, ...], what: str, value=None) -> str:
        value = self.get(name, default) if value is None else value
        if value in valid:
            return value
        msg = f"{name}={value!r} is not {what}; valid: {', '.join(valid)}"
        close = difflib.get_close_matches(value, valid, n=1)
        if close:
            msg += f"; did you mean {close[0]!r}?"
        self.problem(msg)
        return default

    def port(self, name: str, default: int) -> int:
        raw = self.get(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if not 1 <= value <= 65535:
            self.problem(f"{name}={raw!r} is not a port; valid: an integer from 1 to 65535")
            return default
        return value

    def seconds(self, name: str, default: float, bounds: tuple[float, float], zero_ok: bool = False) -> float:
        raw = self.get(name, f"{default:g}")
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        least, most = bounds
        if not (least <= value <= most or (zero_ok and value == 0)):  # NaN and inf fail too
            valid = f"from {least:g} to {most:g} seconds" + (", or 0 (never)" if zero_ok else "")
            self.problem(f"{name}={raw!r} is not a duration here; valid: {valid}")
            return default
        return value

    def address(self, name: str, default_port: int, schemes: tuple[str, ...]) -> Address | None:
        raw = self.get(name)
        if not raw:
            return None
        forms = ["HOST", "HOST:PORT", *(URI_FORMS[s] for s in schemes)]
        valid = f"valid: {', '.join(forms[:-1])} or {forms[-1]}"
        if "://" in raw:
            scheme = raw.split("://", 1)[0].lower()
            if scheme not in schemes:
                self.problem(f"{name}={raw!r} has scheme {scheme!r}; {valid}")
                return None
            if scheme.startswith("mongodb"):
                return self.mongodb_address(name, raw, default_port, valid)
        else:
            scheme = None
        try:
            parts = urlsplit(raw if scheme else "//" + raw)  # ValueError: e.g. "[::1" (no closing bracket)
        except ValueError as err:
            self.problem(f"{name}={raw!r} is not an address ({err}); {valid}")
            return None
        try:
            port = parts.port
            host = parts.hostname
        except ValueError:
            self.problem(f"{name}={raw!r} has an invalid port; {valid} with PORT from 1 to 65535")
            return None
        if not host or not (_HOST_RE.match(host) or ":" in host):
            self.problem(f"{name}={raw!r} is not an address; {valid}")
            return None
        if scheme and parts.path not in ("", "/"):
            self.problem(f"{name}={raw!r} must not have a path; {valid}")
            return None
        if port == 0:
            self.problem(f"{name}={raw!r} has an invalid port; {valid} with PORT from 1 to 65535")
            return None
        return Address(host=host, port=port or default_port)

    def mongodb_address(self, name: str, raw: str, default_port: int, valid: str) -> Address | None:
        """A mongodb:// or mongodb+srv:// URI, checked by pymongo's own parser (imported only
        for such an address: it takes a fifth of a second, and health checks parse settings)."""
        from pymongo.errors import ConfigurationError
        from pymongo.uri_parser import parse_uri

        srv = raw.startswith("mongodb+srv://")
        try:
            nodes = [(srv_name(raw), 0)] if srv else parse_uri(raw, default_port)["nodelist"]
        except (ValueError, ConfigurationError) as err:
            self.problem(f"{name}={raw!r} is not an address: {str(err).rstrip('.')}; {valid}")
            return None
        for host, _ in nodes:
            if not (_HOST_RE.match(host) or ":" in host):  # e.g. a unix socket path
                self.problem(f"{name}={raw!r} is not an address: {host!r} is no host name or IP; {valid}")
                return None
        host, port = nodes[0]
        return Address(host=host, port=port, uri=raw, single_host=len(nodes) == 1 and not srv)

    def default_run_dir(self) -> str:
        """TMPDIR/mspass-UID; "" (and a problem) when no temporary directory is writable."""
        try:
            return os.path.join(tempfile.gettempdir(), f"mspass-{os.getuid()}")
        except FileNotFoundError:  # e.g. docker run --read-only without a tmpfs
            self.problem("MSPASS_RUN_DIR is unset and there is no writable temporary directory (TMPDIR, /tmp, "
                         "/var/tmp); valid: a writable directory, e.g. docker run --tmpfs /tmp")
            return ""

    def bind_address(self, name: str, address: str) -> None:
        """An address services listen on: one of this machine's, checked now (a service bound
        elsewhere fails only once the others run)."""
        valid = ("valid: an IP address or host name of this machine, e.g. 0.0.0.0 (every interface) or "
                 "127.0.0.1 (this node only)")
        if not is_host(address):
            self.problem(f"{name}={address!r} is not an address; {valid}")
        elif address == "::":
            # every IPv6 interface: local processes reach it at ::1 (Jupyter bound to :: is IPv6 only)
            if not self.is_local("::1"):
                self.problem(f"{name}='::' needs IPv6, which is off here (no ::1); {valid}")
        elif address not in ANY_ADDRESS and not self.is_local(address.strip("[]")):
            self.problem(f"{name}={address!r} is not an address of this machine; {valid}")

    def directory(self, name: str, path: Path, shown: str | None = None) -> Path:
        """Check that `path` exists as a writable dir or can be created. `shown`: the value as
        given, when `path` is the directory it names a file in."""
        given = repr(shown if shown is not None else str(path))
        if not path.is_absolute():
            self.problem(f"{name}={given} must be an absolute path")
            return path
        probe = path
        try:
            while not probe.exists():
                probe = probe.parent
        except OSError as err:  # e.g. a parent this uid may not enter (HPC home and project dirs)
            self.problem(f"{name}={given} cannot be checked by uid {os.getuid()}: {err.strerror} "
                         f"({err.filename})")
            return path
        if not probe.is_dir():
            self.problem(f"{name}={given}: {probe} is not a directory")
        elif not os.access(probe, os.W_OK | os.X_OK):
            what = "is not writable" if probe == path else f"cannot be created ({probe} is not writable)"
            self.problem(f"{name}={given} {what} by uid {os.getuid()}")
        return path

    # the whole contract ----------------------------------------------------
    def generic(self, var: Var) -> Any:
        """The value of a variable of a generic kind (see Var.kind)."""
        if var.kind == "choice":
            return self.choice(var.name, var.default, var.choices, var.what)
        if var.kind == "port":
            return self.port(var.name, int(var.default))
        if var.kind in ("seconds", "seconds0"):
            return self.seconds(var.name, float(var.default), var.bounds, zero_ok=var.kind == "seconds0")
        if var.kind == "words":
            return tuple(self.get(var.name, var.default).split())
        return self.get(var.name, var.default)

    # the whole contract ----------------------------------------------------
    def parse(self) -> Settings:
        """Every generic variable, then the rules, by topic; Settings once all is known."""
        role_raw = self.role_override if self.role_override is not None else self.get("MSPASS_ROLE", "all")
        role = self.choice("MSPASS_ROLE", "all", ROLES, BY_NAME["MSPASS_ROLE"].what, value=role_raw)
        v: dict[str, Any] = {var.field: self.generic(var) for var in VARIABLES if var.kind != "rule"}
        v["role"] = role
        self.network(v, role_ok=role_raw in ROLES)
        v["spark_worker_cores"], v["spark_worker_memory"] = self.spark_worker_size(v["role"], v["scheduler"])
        v["db_engine"] = self.engine(v["role"])
        self.directories(v)
        self.dask_worker(v)
        self.jupyter(v)
        self.db_auth(v)
        self.dask_tls(v)
        v["client_preload"] = self.client_preload()
        self.spark_secret(v)
        self.sharding(v)
        v["mspass_home"] = self.mspass_home(v["role"])
        settings = Settings(**v)
        if self.problems:
            raise SettingsError(self.problems)
        return settings

    def network(self, v: dict[str, Any], role_ok: bool) -> None:
        """Bind address, node name, the services' addresses and the ports a role binds."""
        role, scheduler = v["role"], v["scheduler"]
        bind = v["bind_address"] = self.get("MSPASS_BIND_ADDRESS", BY_NAME["MSPASS_BIND_ADDRESS"].default)
        # closed by default: an all-in-one's database and dask serve its own container only
        service = v["service_address"] = self.get("MSPASS_SERVICE_ADDRESS") or (
            "127.0.0.1" if role == "all" and not self.get("MSPASS_BIND_ADDRESS") else bind)
        local = local_address(service)
        dashboard = v["dashboard_address"] = self.get("MSPASS_DASHBOARD_ADDRESS") or bind
        self.bind_address("MSPASS_BIND_ADDRESS", bind)
        if self.get("MSPASS_SERVICE_ADDRESS"):
            self.bind_address("MSPASS_SERVICE_ADDRESS", service)
        if self.get("MSPASS_DASHBOARD_ADDRESS"):
            self.bind_address("MSPASS_DASHBOARD_ADDRESS", dashboard)
        node_name = v["node_name"] = self.get("MSPASS_NODE_NAME", socket.gethostname())
        # it names files: no "/" may take them elsewhere, and no name may pass the file system's
        # 255 bytes with what is added to it (a 241-character name failed the tmp database's start)
        if not _HOST_RE.match(node_name) or len(node_name) > NODE_NAME_MAX:
            self.problem(f"MSPASS_NODE_NAME={node_name!r} is not a name; valid: up to {NODE_NAME_MAX} letters, digits "
                         "and . _ - (it names log and state files and dask workers)")

        # addresses: "this host" for roles that run the service, required otherwise
        mongodb_port = v["mongodb_port"]
        sched_port = v["spark_master_port"] if scheduler == "spark" else v["dask_scheduler_port"]
        sched_schemes = ("spark",) if scheduler == "spark" else ("tcp", "tls")
        sched_addr = self.address("MSPASS_SCHEDULER_ADDRESS", sched_port, sched_schemes)
        db_addr = self.address("MSPASS_DB_ADDRESS", mongodb_port, ("mongodb", "mongodb+srv"))
        if role in ("all", "scheduler") and sched_addr is None and scheduler != "none":
            # a Spark master binds only where it announces itself: its host name, not loopback
            sched_addr = Address(announced_address(bind) if scheduler == "spark" else local, sched_port)
        if role in ("all", "db") and db_addr is None:
            db_addr = Address(local, mongodb_port)
        v["scheduler_address"], v["db_address"] = sched_addr, db_addr
        if role_ok:
            self.require_addresses(role, scheduler, sched_addr, db_addr)
        if role in ("all", "scheduler", "worker") and scheduler == "none":
            self.problem(f"MSPASS_SCHEDULER='none' is only valid for role 'frontend' (MSPASS_ROLE={role!r}); "
                         "valid here: dask, spark")
        # a server role listens on its *_PORT; an address that says otherwise is a mistake
        if role in DB_ROLES and db_addr and not db_addr.single_host:
            self.problem(f"MSPASS_DB_ADDRESS={self.get('MSPASS_DB_ADDRESS')!r} names several servers or a "
                         f"mongodb+srv:// name, but role {role!r} runs one database server here; valid: "
                         "HOST, HOST:PORT or a mongodb:// URI with one HOST:PORT")
        elif role in ("all", "db") and db_addr and db_addr.port != mongodb_port:
            self.problem(f"MSPASS_DB_ADDRESS={self.get('MSPASS_DB_ADDRESS')!r} names port {db_addr.port}, "
                         f"but role {role!r} listens on MONGODB_PORT={mongodb_port}")
        if role in ("all", "scheduler") and sched_addr and sched_addr.port != sched_port:
            port_var = "SPARK_MASTER_PORT" if scheduler == "spark" else "DASK_SCHEDULER_PORT"
            self.problem(f"MSPASS_SCHEDULER_ADDRESS={self.get('MSPASS_SCHEDULER_ADDRESS')!r} names port "
                         f"{sched_addr.port}, but role {role!r} listens on {port_var}={sched_port}")
        self.check_port_clash(role, scheduler, {name: v[BY_NAME[name].field] for name in DEFAULT_PORTS})
        driver_host = v["spark_driver_host"] = self.get("MSPASS_SPARK_DRIVER_HOST") or None
        if driver_host and not _HOST_RE.match(driver_host):
            self.problem(f"MSPASS_SPARK_DRIVER_HOST={driver_host!r} is not an address; valid: a host name or IP")

    def directories(self, v: dict[str, Any]) -> None:
        """Work, database, log, worker and run dirs, and the ready file: each must be (or can
        be made) a writable directory, checked now, since the services find out too late."""
        role = v["role"]
        work_dir = self.directory("MSPASS_WORK_DIR", Path(self.get("MSPASS_WORK_DIR",
                                                                     default_work_dir(self.in_container))))
        v["work_dir"] = work_dir
        v["db_dir"] = Path(self.get("MSPASS_DB_DIR", str(work_dir / "db")))
        v["log_dir"] = self.directory("MSPASS_LOG_DIR", Path(self.get("MSPASS_LOG_DIR", str(work_dir / "logs"))))
        v["worker_dir"] = Path(self.get("MSPASS_WORKER_DIR", str(work_dir / "work")))
        raw_run_dir = self.get("MSPASS_RUN_DIR") or self.default_run_dir()
        v["run_dir"] = self.directory("MSPASS_RUN_DIR", Path(raw_run_dir)) if raw_run_dir else Path("/")
        if role in DB_ROLES:
            self.directory("MSPASS_DB_DIR", v["db_dir"])
        if role in DB_ROLES and v["db_engine"] == "ferretdb" and v["db_path"] == "scratch":
            self.ferretdb_dir(v["db_dir"])
        if role in WORKER_ROLES:
            self.directory("MSPASS_WORKER_DIR", v["worker_dir"])
        ready_file = self.get("MSPASS_DB_READY_FILE")
        if ready_file and role in DB_ROLES:  # touched once the database runs: too late to find it cannot be
            self.directory("MSPASS_DB_READY_FILE", Path(ready_file).parent, shown=ready_file)
        v["db_ready_file"] = Path(ready_file) if ready_file else None

    def ferretdb_dir(self, path: Path) -> None:
        """FerretDB opens its files by a URL (file:PATH/) that it writes back unescaped and
        lists by a glob: some characters make it open, or find, another file."""
        bad = [c for c in dict.fromkeys(str(path)) if c in FERRETDB_PATH_UNSAFE or not c.isprintable()]
        if bad:
            given = "" if self.get("MSPASS_DB_DIR") else " (under MSPASS_WORK_DIR)"
            self.problem(f"MSPASS_DB_DIR={str(path)!r}{given} contains {', '.join(map(repr, bad))}, which FerretDB's "
                         f"SQLite URL (file:PATH/) cannot hold; valid: a path without {' '.join(FERRETDB_PATH_UNSAFE)} "
                         "or control characters")

    def dask_worker(self, v: dict[str, Any]) -> None:
        """MSPASS_WORKER_ARG as dask reads it, and the memory limit it or
        MSPASS_DASK_WORKER_MEMORY_LIMIT sets."""
        starts_worker = v["role"] in WORKER_ROLES and v["scheduler"] == "dask"
        worker_args = v["worker_args"] = self.worker_args(starts_worker, v["scheduler_address"])
        arg_limit = worker_args.value("--memory-limit")
        limit_source = "--memory-limit in MSPASS_WORKER_ARG" if arg_limit else "MSPASS_DASK_WORKER_MEMORY_LIMIT"
        memory_limit = v["memory_limit"] = arg_limit or self.get("MSPASS_DASK_WORKER_MEMORY_LIMIT", "0")
        valid_limit = "valid: 0 (no limit), auto, a size like 4GB or 4GiB, or a fraction of the memory like 0.5"
        if not _BYTES_RE.match(memory_limit):
            self.problem(f"{limit_source}={memory_limit!r} is not a memory size; {valid_limit}")
        elif 0 < (limit_bytes := memory_bytes(memory_limit)) < MIN_WORKER_MEMORY:
            # dask reads a plain number as bytes: "512" made the nanny restart the worker ten times a second
            self.problem(f"{limit_source}={memory_limit!r} is {limit_bytes:,.0f} bytes, too little "
                         f"for a dask worker (at least 256MiB); {valid_limit}")

    def jupyter(self, v: dict[str, Any]) -> None:
        token = v["jupyter_token"] = self.get("MSPASS_JUPYTER_TOKEN") or None
        if token and not re.fullmatch(r"[A-Za-z0-9._~-]+", token):
            self.problem("MSPASS_JUPYTER_TOKEN must use only letters, digits and . _ ~ - (it goes into URLs)")
        v["jupyter_password"] = self.raw("MSPASS_JUPYTER_PWD") or None

    def db_auth(self, v: dict[str, Any]) -> None:
        """The database's user: both or neither (as the official mongo image requires)."""
        user = v["db_username"] = self.get("MONGO_INITDB_ROOT_USERNAME") or None
        password = v["db_password"] = self.raw("MONGO_INITDB_ROOT_PASSWORD") or None
        given, missing = (("MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD") if user
                          else ("MONGO_INITDB_ROOT_PASSWORD", "MONGO_INITDB_ROOT_USERNAME"))
        # a *_FILE that cannot be read is a problem of its own already
        if bool(user) != bool(password) and missing not in self.unreadable:
            self.problem(f"{given} is set but {missing} is not; valid: both (or their *_FILE forms) to require "
                         "authentication, or neither")
        if user and ":" in user:
            self.problem("MONGO_INITDB_ROOT_USERNAME must not contain ':'; valid: a user name without ':'")
        address = v["db_address"]
        if user and address and address.uri and "@" in address.uri.split("?")[0]:
            self.problem("MSPASS_DB_ADDRESS names a user and MONGO_INITDB_ROOT_USERNAME is set; valid: one of them")

    def client_preload(self) -> tuple[str, ...]:
        """DASK_DISTRIBUTED__CLIENT__PRELOAD as dask reads it (a Python literal, else the text
        itself), with the module that gives notebooks MsPASS's documented dask calls."""
        from .dask_compat import MODULE

        name = "DASK_DISTRIBUTED__CLIENT__PRELOAD"
        raw = self.get(name, "")
        try:
            given = ast.literal_eval(raw) if raw else []
        except (SyntaxError, ValueError):
            given = raw
        given = [given] if isinstance(given, str) else given
        if not isinstance(given, (list, tuple)) or not all(isinstance(m, str) and m for m in given):
            self.problem(f"{name}={raw!r} is not a module name or a list of them; valid: e.g. "
                         "mymodule or ['mymodule', 'other']")
            given = []
        return tuple(dict.fromkeys([*given, MODULE]))

    def dask_tls(self, v: dict[str, Any]) -> None:
        """dask's CA file and the certificate and key of each dask role this role runs: named
        together, and readable (dask would find out only when a connection fails)."""
        for var in VARIABLES:
            if var.name.startswith(DASK_TLS):
                v[var.field] = self.get(var.name) or None
        ca_var = f"{DASK_TLS}CA_FILE"
        named = [var.name for var in VARIABLES if var.name.startswith(DASK_TLS) and v[var.field]]
        if not v["dask_tls_ca_file"]:
            if named:
                self.problem(f"{named[0]} is set but {ca_var} is not; valid: dask's CA file with it "
                             "(TLS), or neither")
            return
        if v["scheduler"] != "dask":
            return
        needed = [ca_var]
        for who, roles in DASK_TLS_ROLES.items():
            if v["role"] in roles:
                needed += [f"{DASK_TLS}{who.upper()}__CERT", f"{DASK_TLS}{who.upper()}__KEY"]
        for name in needed:
            path = v[BY_NAME[name].field]
            if not path:
                self.problem(f"{name} is required for role {v['role']!r} when {ca_var} is set; valid: a PEM file")
            elif not os.access(path, os.R_OK) or not Path(path).is_file():
                self.problem(f"{name}={path!r} is not a file uid {os.getuid()} can read")
            else:
                self.pem_file(name, path)

    def pem_file(self, name: str, path: str) -> None:
        """A PEM file of what dask expects there, told by its -----BEGIN line (dask finds out only
        when its first connection fails); the first 64 KiB are enough to tell."""
        what = "private key" if name.endswith("__KEY") else "certificate"
        try:
            with open(path, "rb") as file:
                head = file.read(SECRET_FILE_MAX).decode("ascii", errors="replace")
        except OSError as err:
            self.problem(f"{name}={path!r} cannot be read by uid {os.getuid()}: {err.strerror}")
            return
        if not PEM_BEGIN[what].search(head):
            self.problem(f"{name}={path!r} is not a PEM {what} (no -----BEGIN {what.upper()}----- line); "
                         "valid: a PEM file, e.g. as openssl writes it")

    def spark_secret(self, v: dict[str, Any]) -> None:
        secret = v["spark_secret"] = (self.raw("MSPASS_SPARK_SECRET") or "").strip() or None
        if secret and not re.fullmatch(r"[A-Za-z0-9+/=._~-]+", secret):
            self.problem("MSPASS_SPARK_SECRET must use only letters, digits and + / = . _ ~ - (it goes into a "
                         "Java properties file)")

    def sharding(self, v: dict[str, Any]) -> None:
        role, engine = v["role"], v["db_engine"]
        if role == "dbmanager" and engine in SHARDING_ENGINES:
            if not v["shard_list"]:
                self.problem("MSPASS_SHARD_LIST is required for role 'dbmanager'; valid: ID/HOST:PORT entries")
            for entry in v["shard_list"]:
                if not re.fullmatch(r"[A-Za-z0-9_-]+/[A-Za-z0-9._-]+:\d+", entry):
                    self.problem(f"MSPASS_SHARD_LIST entry {entry!r} is not ID/HOST:PORT")
            ids = [entry.split("/")[0] for entry in v["shard_list"]]
            for repeated in sorted({i for i in ids if ids.count(i) > 1}):
                self.problem(f"MSPASS_SHARD_LIST names shard {repeated!r} twice; each shard has its own id")
        if role == "shard" and engine in SHARDING_ENGINES and not re.fullmatch(r"[A-Za-z0-9_-]+", v["shard_id"]):
            self.problem(f"MSPASS_SHARD_ID={v['shard_id']!r} is required for role 'shard'; "
                         "valid: letters, digits, _ and - (the same id on every restart)")
        if role == "dbmanager":
            for entry in v["shard_collections"]:
                if not re.fullmatch(r"[^\s:$]+:[^\s:$]+", entry):
                    self.problem(f"MSPASS_SHARD_COLLECTIONS entry {entry!r} is not COLLECTION:KEY")
            if v["shard_collections"] and not v["shard_database"]:
                self.problem("MSPASS_SHARD_COLLECTIONS needs MSPASS_SHARD_DATABASE (the database they are in)")
        address = v["config_server_addr"]
        if role == "shard" and address and not re.fullmatch(r"[A-Za-z0-9_-]+/[A-Za-z0-9._-]+:\d+", address):
            self.problem(f"MSPASS_CONFIG_SERVER_ADDR={address!r} is not REPLSET/HOST:PORT (e.g. configserver/node1:27018)")
        if role in SHARDED_ROLES and v["db_username"]:
            self.problem(f"MONGO_INITDB_ROOT_USERNAME is not supported with role {role!r} in this version "
                         "(a sharded cluster with a login also needs a key file shared by its members); "
                         "unset it, or use role 'db'")

    def require_addresses(self, role, scheduler, sched_addr, db_addr) -> None:
        needs_sched = role == "worker" or (role == "frontend" and scheduler != "none")
        if needs_sched and sched_addr is None and self.get("MSPASS_SCHEDULER_ADDRESS") == "":
            self.problem(f"MSPASS_SCHEDULER_ADDRESS is required for role {role!r} "
                         f"(MSPASS_SCHEDULER={scheduler}); valid: the scheduler's HOST or HOST:PORT")
        if role == "frontend" and db_addr is None and self.get("MSPASS_DB_ADDRESS") == "":
            self.problem("MSPASS_DB_ADDRESS is required for role 'frontend'; valid: the database's HOST, "
                         "HOST:PORT or mongodb:// URI")

    def check_port_clash(self, role: str, scheduler: str, ports: dict[str, int]) -> None:
        """The ports one role binds on this node must differ."""
        seen: dict[int, str] = {}
        for name in listening_ports(role, scheduler):
            port = ports[name]
            if port in seen:
                self.problem(f"{name}={port} clashes with {seen[port]}={port}; every service of role "
                             f"{role!r} needs its own port")
            seen.setdefault(port, name)

    def spark_worker_size(self, role: str, scheduler: str) -> tuple[int, str]:
        """Cores and memory a Spark worker offers; (0, "") where no Spark worker runs (and
        no cgroup files are read, e.g. on every health check)."""
        from . import resources

        if scheduler != "spark" or role not in ("all", "worker"):
            return 0, ""
        raw = self.get("SPARK_WORKER_CORES")
        cores = resources.cpu_count()
        if raw:
            if raw.isdigit() and int(raw) > 0:
                cores = int(raw)
            else:
                self.problem(f"SPARK_WORKER_CORES={raw!r} is not a number of cores; valid: a positive integer")
        memory = self.get("SPARK_WORKER_MEMORY") or resources.spark_worker_memory()
        if not re.fullmatch(r"\d+([kmgtp]b?)?", memory, re.IGNORECASE):
            self.problem(f"SPARK_WORKER_MEMORY={memory!r} is not a memory size; valid: Spark sizes like 4g or 512m")
        return cores, memory

    def engine(self, role: str) -> str:
        var = BY_NAME["MSPASS_DB_ENGINE"]
        requested = self.choice(var.name, var.default, var.choices, var.what)
        if role not in DB_ROLES:
            return ""
        binaries = {"mongodb": "mongod", "ferretdb": "ferretdb"}
        if requested == "auto":
            found = [e for e in ("mongodb", "ferretdb") if self.which(binaries[e])]
            if not found:
                self.problem("MSPASS_DB_ENGINE=auto found no database server: neither mongod nor ferretdb "
                             "is on PATH")
                return ""
            engine = found[0]
        else:
            engine = requested
            if not self.which(binaries[engine]):
                self.problem(f"MSPASS_DB_ENGINE={engine!r} needs {binaries[engine]!r}, which is not on PATH")
        if role in SHARDED_ROLES and engine and engine not in SHARDING_ENGINES:
            self.problem(f"MSPASS_ROLE={role!r} needs a database engine that can shard; MSPASS_DB_ENGINE "
                         f"resolved to {engine!r}, which cannot (valid: {', '.join(SHARDING_ENGINES)}). Use an "
                         "image with MongoDB (make build MSPASS_DB_ENGINE=mongodb, where MongoDB's repository "
                         "answers), or role 'db' for one unsharded server")
        return engine

    def mspass_home(self, role: str) -> str | None:
        """MSPASS_HOME as given, else the installed mspasspy; a given one must hold the schema."""
        given = self.get("MSPASS_HOME")
        if not given:
            return self.find_mspasspy()
        if role in MSPASS_ROLES and not (Path(given) / "data" / "yaml" / "mspass.yaml").is_file():
            installed = self.find_mspasspy()
            self.problem(f"MSPASS_HOME={given!r} has no data/yaml/mspass.yaml (MsPASS reads its schema there); "
                         "valid: a directory with MsPASS's data/, or unset for "
                         + (f"the installed mspasspy ({installed})" if installed else "mspasspy's own data"))
        return given

    def worker_args(self, starts_dask_worker: bool, scheduler: Address | None) -> WorkerArgs:
        raw = self.env.get("MSPASS_WORKER_ARG", "")
        try:
            argv = tuple(shlex.split(raw))
        except ValueError as err:
            self.problem(f"MSPASS_WORKER_ARG={raw!r} cannot be split like a shell would: {err}")
            return WorkerArgs()
        if starts_dask_worker and argv:
            # imported here: it imports distributed, too slow for every health check of other roles
            from . import dask_worker_args

            target = f"tcp://{scheduler.hostport}" if scheduler else "tcp://scheduler:8786"
            for problem in dask_worker_args.problems(argv, target):
                self.problem(f"MSPASS_WORKER_ARG={raw!r}: {problem}")
        return WorkerArgs(argv)




def readers(var: Var) -> str:
    return "every role" if var.roles == ROLES else ", ".join(var.roles)


def notes(var: Var) -> str:
    said = (["secret"] if var.secret else []) + ([f"or `{var.name}_FILE`: a file holding it"] if var.file_ok else [])
    if var.kind in ("seconds", "seconds0"):
        said.append(f"{var.bounds[0]:g} to {var.bounds[1]:g}" + (", or 0" if var.kind == "seconds0" else ""))
    return f" ({'; '.join(said)})" if said else ""


def markdown_table() -> str:
    """The contract as a Markdown table (the README embeds it; a test keeps them equal)."""
    rows = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    rows += [f"| `{v.name}` | {v.help_default} | {readers(v)} | {v.meaning}{notes(v)} |" for v in VARIABLES]
    return "\n".join(rows) + "\n"
