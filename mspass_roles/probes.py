"""Readiness probes: each asks a service a real question with a short timeout.

A probe's `check()` returns None when the service is ready, else a short reason. Probes are
plain data (to_dict/from_dict) so the supervisor can record them in its state file and
`mspass-role health` can ask the same questions later.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, ClassVar

_KINDS: dict[str, type["Probe"]] = {}
#: where the database's health check writes (one small document per host that asks)
HEALTH_DATABASE = "mspass_health"
#: seconds a service under load may take to answer its question: dask's scheduler answers
#: from its event loop, which a large graph on a busy 2-core machine holds for seconds, as a
#: database does during a large write (3 to 5 s gave false alarms in ordinary batch runs)
BUSY_TIMEOUT = 10.0
#: MongoDB's error codes (also FerretDB's)
UNAUTHORIZED, AUTHENTICATION_FAILED = 13, 18


class Final(str):
    """A probe's reason that waiting will not change (e.g. wrong credentials): wait_until
    returns it at once instead of asking again until its deadline."""


class Probe:
    kind: ClassVar[str] = ""
    timeout: float

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        _KINDS[cls.kind] = cls

    def check(self) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    @staticmethod
    def from_dict(data: dict) -> "Probe":
        data = dict(data)
        return _KINDS[data.pop("kind")](**data)


@dataclass
class TcpProbe(Probe):
    """The port accepts connections."""

    kind: ClassVar[str] = "tcp"
    host: str
    port: int
    timeout: float = 2.0

    def check(self) -> str | None:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout):
                return None
        except OSError as err:
            return f"{self.host}:{self.port}: {err.strerror or err}"

    def describe(self) -> str:
        return f"{self.host}:{self.port} accepts connections"


@dataclass
class HttpProbe(Probe):
    """GET url answers with status 200 (and the body matches `expect`, if given)."""

    kind: ClassVar[str] = "http"
    url: str
    expect: str = ""
    timeout: float = BUSY_TIMEOUT

    def check(self) -> str | None:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as resp:  # noqa: S310 - our own URL
                body = resp.read(4096).decode(errors="replace")
        except urllib.error.HTTPError as err:
            return f"{self.url}: HTTP {err.code}"
        except (OSError, ValueError) as err:
            return f"{self.url}: {getattr(err, 'reason', err)}"
        if self.expect and not re.search(self.expect, body):
            return f"{self.url}: unexpected answer {body[:80]!r}"
        return None

    def describe(self) -> str:
        return f"{self.url} answers"


@dataclass
class MongoPingProbe(Probe):
    """The server answers the `ping` command (MongoDB or FerretDB); with `write`, it also
    stores a document: a server whose disk is full still answers ping.

    With `auth`, it logs in as MONGO_INITDB_ROOT_USERNAME, read from the environment when
    asked (so no password is kept in the probe, the state file or `health --json`); a
    refused login is Final. With `first_user` too, a login refused because the server has
    no user yet creates it, through mongod's localhost exception (the first user of a
    server started with --auth may be created over a loopback connection)."""

    kind: ClassVar[str] = "mongo-ping"
    uri: str
    timeout: float = BUSY_TIMEOUT
    write: bool = False
    auth: bool = False
    first_user: bool = False

    def check(self) -> str | None:
        import pymongo
        from pymongo.errors import OperationFailure, PyMongoError

        login = self.credentials()
        if login is None:
            return Final(f"{redact_uri(self.uri)} requires a login: MONGO_INITDB_ROOT_USERNAME and "
                         "MONGO_INITDB_ROOT_PASSWORD (or their *_FILE forms) are not set")
        single = not self.uri.startswith("mongodb+srv://")
        if single:
            nodes = pymongo.uri_parser.parse_uri(self.uri)["nodelist"]
            single = len(nodes) == 1
        if single:  # a refused connection answers at once; pymongo would retry it for up to 0.5 s
            refused = TcpProbe(*nodes[0], self.timeout).check()
            if refused:
                return refused
        ms = int(self.timeout * 1000)
        try:
            # one server: ask it, whatever replica set it may belong to; several: any of them
            # (pymongo refuses directConnection=None: the option is given only when it applies)
            options = dict(serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms)
            if single:
                options["directConnection"] = True
            try:
                self.ask(pymongo.MongoClient(self.uri, **options, **login))
            except OperationFailure as err:
                if err.code != AUTHENTICATION_FAILED:
                    raise
                # the localhost exception holds only for a loopback connection (the db role
                # binds mongod to 127.0.0.1 too when it asks for a first user)
                loopback = f"mongodb://127.0.0.1:{nodes[0][1]}/" if single else self.uri
                if not (self.first_user and self.create_first_user(pymongo.MongoClient(loopback, **options),
                                                                   login)):
                    return Final(f"{redact_uri(self.uri)} refused the login of MONGO_INITDB_ROOT_USERNAME="
                                 f"{login['username']!r} (wrong password, or a database made without that user)")
                self.ask(pymongo.MongoClient(self.uri, **options, **login))
            return None
        except PyMongoError as err:
            # FerretDB prefixes its messages with Go call frames ("[db.go:167 fsql.(*DB)...]")
            message = re.sub(r"\[[^\]]*\.go:\d+[^\]]*\]\s*", "", str(err).splitlines()[0])
            return f"{redact_uri(self.uri)}: {message[:160]}"

    def credentials(self) -> dict[str, str] | None:
        """pymongo's login options; {} without `auth`, None when the login is not set."""
        if not self.auth:
            return {}
        from .settings import db_credentials, login_options

        try:
            return login_options(db_credentials(os.environ)) or None
        except ValueError:  # e.g. an unreadable *_FILE: the settings said so at start
            return None

    def ask(self, client) -> None:
        with client:
            client.admin.command("ping")
            if self.auth:  # ping needs no login: a command that does
                client.admin.command("listDatabases", nameOnly=True)
            if self.write:
                client[HEALTH_DATABASE]["probe"].update_one(
                    {"_id": socket.gethostname()}, {"$set": {"at": time.time()}}, upsert=True)

    @staticmethod
    def create_first_user(client, login: dict[str, str]) -> bool:
        """Create the login as the server's root user; False when the server already has
        users (the localhost exception is closed: the user must exist already)."""
        from pymongo.errors import OperationFailure

        with client:
            try:
                client.admin.command("createUser", login["username"], pwd=login["password"],
                                     roles=[{"role": "root", "db": "admin"}])
            except OperationFailure as err:
                if err.code == UNAUTHORIZED:
                    return False
                raise
        return True

    def describe(self) -> str:
        login = " to MONGO_INITDB_ROOT_USERNAME" if self.auth else ""
        return f"{redact_uri(self.uri)} answers ping{login}" + (" and stores a document" if self.write else "")


@dataclass
class ReplicaSetPrimaryProbe(Probe):
    """The mongod at `uri` is the primary of replica set `name` (a shard, or the config
    server): it takes writes. Asked of that one server, not of whatever set it names."""

    kind: ClassVar[str] = "replica-set-primary"
    uri: str
    name: str
    timeout: float = BUSY_TIMEOUT

    def check(self) -> str | None:
        import pymongo
        from pymongo.errors import PyMongoError

        ms = int(self.timeout * 1000)
        try:
            with pymongo.MongoClient(self.uri, directConnection=True, serverSelectionTimeoutMS=ms,
                                     connectTimeoutMS=ms, socketTimeoutMS=ms) as client:
                hello = client.admin.command("hello")  # needs no login
        except PyMongoError as err:
            return f"{redact_uri(self.uri)}: {str(err).splitlines()[0][:160]}"
        if hello.get("setName") != self.name:
            found = hello.get("setName")
            return Final(f"{redact_uri(self.uri)} is a member of replica set {found!r}, not {self.name!r}") \
                if found else f"{redact_uri(self.uri)} has no replica set yet"
        return None if hello.get("isWritablePrimary") else f"replica set {self.name} has no primary yet"

    def describe(self) -> str:
        return f"{redact_uri(self.uri)} primary of replica set {self.name}"


@dataclass
class DaskWorkersProbe(Probe):
    """`count` workers named `name` (or `name-N`) are registered with the scheduler; with
    count 0, the scheduler answers (what a worker or notebook waits for).

    The scheduler's identity is asked over dask's own comm (the `identity` handler that
    Client.scheduler_info uses), through one bare comm: no Client with its event loop thread
    and handshakes. Never the dashboard's /json/identity.json: it fails (HTTP 500, "keys
    must be str ... not tuple") while tasks with tuple keys (every dask bag) report metrics.

    The comm is opened with one connection attempt (a scheduler not listening answers at
    once, where dask's connect would retry for `timeout`), completes dask's handshake and
    asks the scheduler to close it after its answer: a check leaves no line in the
    scheduler's log. A bare TCP connection to find out whether the port listens left one
    each time ("Connection from ... closed before handshake completed"; over TLS a WARNING,
    "TLS handshake failed"): hundreds an hour under `health` and the supervisor's checks."""

    kind: ClassVar[str] = "dask-workers"
    scheduler: str
    name: str = ""
    count: int = 1
    timeout: float = BUSY_TIMEOUT
    #: for a tls:// scheduler: dask's CA file, and the certificate and key to connect with
    #: (paths: the files are private to their owner)
    tls: tuple[str, str, str] | None = None

    def check(self) -> str | None:
        try:
            names = self._names()
        except TimeoutError:
            return f"scheduler {self.scheduler}: no answer within {self.timeout:g} s"
        except OSError as err:
            return f"scheduler {self.scheduler}: {self._connect_error(err)}"
        except (ValueError, KeyError) as err:
            return f"scheduler {self.scheduler}: {str(err) or type(err).__name__}"
        mine = [n for n in names if n == self.name or re.fullmatch(re.escape(self.name) + r"-\d+", n)]
        if len(mine) < self.count:
            return f"{len(mine)} of {self.count} worker(s) named {self.name!r} registered with {self.scheduler}"
        return None

    def _connect_error(self, err: OSError) -> str:
        """HOST:PORT: REASON for a connection that failed (as TcpProbe says it), else dask's text."""
        seen: BaseException | None = err
        while seen is not None:
            if isinstance(seen, OSError) and seen.strerror:
                host, _, port = self.scheduler.split("://")[-1].rpartition(":")
                return f"{host.strip('[]')}:{port}: {seen.strerror}"
            seen = seen.__cause__
        return str(err) or type(err).__name__

    def _names(self) -> list[str]:
        import asyncio

        from distributed.core import send_recv
        from distributed.security import Security

        security = Security()
        if self.tls:
            ca, cert, key = self.tls
            security = Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)

        async def identity() -> dict:
            comm = await dask_connect_once(self.scheduler, self.timeout, security.get_connection_args("client"))
            try:
                # close=True: the scheduler closes the comm once it has answered, as rpc's
                # own close does (no "lost connection" on either side)
                return await send_recv(comm, op="identity", n_workers=-1, close=True)
            finally:
                comm.abort()  # a no-op once closed; frees the socket on a time-out

        async def bounded() -> dict:
            return await asyncio.wait_for(identity(), self.timeout)

        return [str(w.get("name")) for w in asyncio.run(bounded())["workers"].values()]

    def describe(self) -> str:
        if not self.count:
            return f"dask scheduler {self.scheduler}"
        return f"{self.count} worker(s) {self.name!r} registered with {self.scheduler}"


async def dask_connect_once(address: str, timeout: float, connection_args: dict):
    """distributed.comm.connect with one connection attempt: a refused connection raises
    at once (connect retries it until its time-out). Then dask's handshake, as connect
    does it: each side sends its handshake_info, and the comm is configured from both."""
    import asyncio

    from distributed.comm.addressing import parse_address
    from distributed.comm.registry import get_backend

    scheme, loc = parse_address(address)
    connector = get_backend(scheme).get_connector()
    comm = await asyncio.wait_for(connector.connect(loc, deserialize=True, **connection_args), timeout)
    try:
        local = comm.handshake_info()
        await comm.write(local)
        remote = await comm.read()
    except BaseException:
        comm.abort()
        raise
    comm.remote_info = {**remote, "address": comm.peer_address}
    comm.local_info = {**local, "address": comm.local_address}
    comm.handshake_options = comm.handshake_configuration(comm.local_info, comm.remote_info)
    return comm


@dataclass
class RoleStateProbe(Probe):
    """`count` supervisors of `role` (one per node) wrote in their state files under
    `run_dir` that every service is ready: how a launcher on another node (mspass-hpc,
    over the job's shared file system) learns what each role's own probes found."""

    kind: ClassVar[str] = "role-state"
    run_dir: str
    role: str
    count: int = 1
    timeout: float = 2.0
    #: only this node's (MSPASS_NODE_NAME): one of several launches of a role, e.g. a shard
    node: str = ""

    def check(self) -> str | None:
        ready = 0
        for path in Path(self.run_dir).glob(f"{self.role}-{self.node or '*'}.json"):
            try:
                ready += bool(json.loads(path.read_text()).get("ready"))
            except (OSError, ValueError, AttributeError):
                continue  # not yet written, or being replaced
        return None if ready >= self.count else f"{ready} of {self.count} {self.role} role(s) ready"

    def describe(self) -> str:
        return f"{self.count} {self.role} role(s){' on ' + self.node if self.node else ''} ready in {self.run_dir}"


#: how much longer than its own timeout a probe may take before it counts as no answer
HARD_MARGIN = 2.0
_stuck: list[threading.Thread] = []


def ask(probe: Probe) -> str | None:
    """`probe.check()` with a hard deadline, whatever the library it calls does: a service
    that accepts connections but never answers (frozen by SIGSTOP, swapped out) fails the
    check instead of blocking its caller (dask's Client(timeout=5) blocked for minutes)."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((probe.check(), None))
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            outcome.append((None, err))

    thread = threading.Thread(target=run, name=f"probe-{probe.kind}", daemon=True)
    thread.start()
    limit = probe.timeout + HARD_MARGIN
    thread.join(limit)
    if not outcome:
        _stuck.append(thread)
        return f"no answer within {limit:g} s ({probe.describe()})"
    reason, err = outcome[0]
    if err is not None:
        raise err
    return reason


def stuck() -> bool:
    """Whether a probe thread still waits for a service that never answered: the process
    should then end with os._exit, since interpreter shutdown could wait for that thread's
    library (distributed closes its clients at exit)."""
    return any(t.is_alive() for t in _stuck)


def redact_uri(uri: str) -> str:
    """The URI with its user and password masked: for messages, logs and `config`."""
    return re.sub(r"//[^@/]*@", "//***@", uri)


def wait_until(
    probe: Probe,
    deadline: float,
    *,
    max_interval: float = 1.0,
    abort: Callable[[], str | None] = lambda: None,
) -> str | None:
    """Poll `probe` until it passes (returns None) or `deadline` (time.monotonic) passes.

    `abort` is asked between attempts; a non-None answer stops waiting and is returned
    (e.g. "the process exited"). On timeout the probe's last reason is returned.
    Intervals grow from 50 ms to `max_interval`: fast when things are quick, gentle otherwise.
    """
    interval = 0.05
    while True:
        reason = ask(probe)
        if reason is None or isinstance(reason, Final):
            return reason
        stop = abort()
        if stop is not None:
            return stop
        now = time.monotonic()
        if now >= deadline:
            return f"timed out: {reason}"
        time.sleep(min(interval, max(0.0, deadline - now)))
        interval = min(interval * 2, max_interval)


