"""Role `frontend`: JupyterLab, or one batch run of a notebook/script (`--batch FILE`).

Secrets go into a private config file, never on a command line. The environment the
notebook sees is Settings.client_env(), so mspasspy's Client() and dask's Client() find
the services without arguments.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import spark
from ..files import open_private, write_private
from ..plan import Service
from ..probes import DaskWorkersProbe, HttpProbe, MongoPingProbe, Probe, TcpProbe
from ..settings import Address, Settings, in_docker, mspasspy_version

BATCH_SUFFIXES = (".ipynb", ".py")


@dataclass(frozen=True)
class Batch:
    path: Path
    args: tuple[str, ...] = ()

    def output(self, s: Settings) -> Path:
        """Where the executed notebook goes (never over the input)."""
        return s.log_dir / f"{self.path.stem}.executed.ipynb"


class BatchError(ValueError):
    pass


def resolve_batch(file: str, args: list[str], s: Settings, in_container: bool | None = None) -> Batch:
    """Find FILE relative to the cwd, then the work dir; check its type, and that it parses
    (a broken file is refused now, not after the services started). `in_container`: the
    /.dockerenv check, given by tests."""
    candidates = [Path(file)] if os.path.isabs(file) else [Path.cwd() / file, s.work_dir / file]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        if in_container is None:
            in_container = in_docker()
        places = {str(c.parent): str(c.parent) for c in candidates}
        work_dir = str(s.work_dir)
        if work_dir in places:
            # in a container the user knows the work dir by its name on the host, not as /home
            places[work_dir] = (f"{work_dir}, the work dir: the host directory mounted there, e.g. MSPASS_WORK_DIR "
                                "(./work) with Compose" if in_container else f"{work_dir}, the work dir")
        raise BatchError(f"--batch {file!r}: no such file (looked in {'; '.join(places.values())})")
    if found.suffix not in BATCH_SUFFIXES:
        raise BatchError(f"--batch {file!r}: not a notebook or script; valid: {', '.join(BATCH_SUFFIXES)} files")
    problem = notebook_problem(found) if found.suffix == ".ipynb" else script_problem(found)
    if problem:
        raise BatchError(f"--batch {file!r}: {problem}")
    return Batch(found.resolve(), tuple(args))


def notebook_problem(path: Path) -> str | None:
    """Why this is no notebook papermill can run: nbformat reads it as papermill does, then
    checks it against the notebook schema; None when it is fine."""
    import warnings

    import nbformat

    try:
        with warnings.catch_warnings():  # e.g. cells without ids: papermill runs those anyway
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.read(path, as_version=4))
    except Exception as err:  # nbformat raises many kinds: NotJSONError, ValidationError, AttributeError...
        reason = getattr(err, "message", None) or str(err) or type(err).__name__
        return f"{path} is not a valid notebook: {reason.splitlines()[0][:200]}"
    return None


def script_problem(path: Path) -> str | None:
    """A Python syntax error as FILE:LINE: MESSAGE; None when the script compiles."""
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except SyntaxError as err:
        return f"{err.filename}:{err.lineno}: {err.msg}"
    except (ValueError, OSError) as err:  # e.g. null bytes (Python 3.11), an unreadable file
        return f"{path}: {err}"
    return None


def mspass_label() -> str:
    """Which MsPASS the notebook gets, for the status lines."""
    version = mspasspy_version()
    return f"mspasspy {version}" if version else "no mspasspy"


def needs(s: Settings) -> list[Probe]:
    """The services a notebook needs before it can do anything useful."""
    probes: list[Probe] = []
    if s.db_address:
        probes.append(MongoPingProbe(s.db_address.mongodb_uri, auth=bool(s.db_credentials)))
    if s.scheduler_address and s.scheduler == "dask":  # a handshake: no line in the scheduler's log
        probes.append(DaskWorkersProbe(s.dask_scheduler_url, count=0, tls=s.dask_tls_files("client")))
    elif s.scheduler_address and s.scheduler != "none":
        probes.append(TcpProbe(s.scheduler_address.host, s.scheduler_address.port))
    return probes


class _SchedulerConfig:
    """What a notebook needs to reach the scheduler beyond client_env(): for Spark, a
    private spark-defaults.conf (SPARK_CONF_DIR) so a plain SparkSession finds the cluster."""

    def __init__(self, s: Settings):
        self.s = s
        # one per process: a batch run attached to a running all-in-one must not share
        # (and on exit remove) the running Jupyter's directory
        self.conf_dir = s.run_dir / f"spark-{s.node_name}-{os.getpid()}"
        self.env = s.client_env()
        if s.scheduler == "spark":
            self.env.update({"SPARK_CONF_DIR": str(self.conf_dir), "SPARK_HOME": str(spark.spark_home()),
                             "PYSPARK_PYTHON": sys.executable})

    def write(self) -> None:
        if self.s.scheduler == "spark":
            spark.write_driver_conf(self.s, self.conf_dir)

    def remove(self) -> None:
        shutil.rmtree(self.conf_dir, ignore_errors=True)


def private_output(path: Path) -> None:
    """The executed notebook's file, made the owner's alone (0600) before papermill writes it:
    it may hold results and secrets the notebook printed, and papermill's open(path, "w")
    keeps an existing file's mode, so it is never readable by others, not for an instant."""
    os.close(open_private(path, os.O_WRONLY))


def batch_service(s: Settings, batch: Batch, *, wait: bool = True) -> Service:
    scheduler = _SchedulerConfig(s)
    out = batch.output(s) if batch.path.suffix == ".ipynb" else None

    def before_start() -> None:
        if out is not None:
            private_output(out)
        scheduler.write()

    if out is not None:
        # papermill runs the notebook through a real kernel, so magics work, and saves the
        # executed copy (with any traceback) even when a cell fails; through papermill_run,
        # its command line in our process: a failed cell shows the user's error, not
        # papermill's traceback, and the kernel's connection is encrypted
        argv = [sys.executable, "-m", "mspass_roles.papermill_run", str(batch.path), str(out),
                "--cwd", str(batch.path.parent), "--kernel", "python3", "--log-output",
                "--no-progress-bar", *batch.args]
        summary = f"notebook {batch.path} -> {out} ({mspass_label()})"
    else:
        argv = [sys.executable, str(batch.path), *batch.args]
        summary = f"script {batch.path} ({mspass_label()})"
    return Service(
        name="batch",
        argv=argv,
        needs=needs(s) if wait else [],
        env=scheduler.env,
        before_start=before_start,
        after_stop=scheduler.remove,
        cwd=batch.path.parent,
        main=True,
        summary=summary,
        stop_timeout=10,
    )


#: the first notebook offered to a user: shipped with the package, so in the image and the SIF
FIRST_NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "getting_started.ipynb"


def offer_first_notebook(work_dir: Path) -> str | None:
    """A copy of the getting-started notebook in a work dir that holds no notebook yet (a
    user's first start); never over a file, and never where the user keeps notebooks."""
    try:
        if any(work_dir.glob("*.ipynb")):
            return None
        target = work_dir / FIRST_NOTEBOOK.name
        with open(target, "xb") as out:  # x: a file of that name is the user's
            out.write(FIRST_NOTEBOOK.read_bytes())
    except OSError:  # a read-only or foreign work dir: Jupyter still starts
        return None
    return f"a first notebook for you: {target.name} (MsPASS's components page and a small parallel workflow)"


def jupyter_service(s: Settings, *, wait: bool = True) -> Service:
    private = s.run_dir / f"jupyter-{s.node_name}-{s.jupyter_port}"
    config = private / "jupyter_server_config.json"
    token = s.jupyter_token or ("" if s.jupyter_password else secrets.token_urlsafe(24))

    def write_config() -> str | None:
        private.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(private, 0o700)
        # PasswordIdentityProvider is jupyter_server's default identity provider
        identity = {"token": token}
        if s.jupyter_password:
            # imported only here: a quarter second of CPU while the other services start
            from jupyter_server.auth import passwd

            identity["hashed_password"] = passwd(s.jupyter_password)
        cfg = {
            "ServerApp": {
                "ip": s.bind_address,
                "port": s.jupyter_port,
                "port_retries": 0,  # a taken port is an error, not a silent move
                "root_dir": str(s.work_dir),
                "open_browser": False,
                "allow_root": True,  # containers often run as root
            },
            "PasswordIdentityProvider": identity,
        }
        write_private(config, json.dumps(cfg))

        scheduler.write()
        return offer_first_notebook(s.work_dir)

    def remove_config() -> None:
        shutil.rmtree(private, ignore_errors=True)
        scheduler.remove()

    scheduler = _SchedulerConfig(s)
    env = dict(scheduler.env)
    env["JUPYTER_RUNTIME_DIR"] = str(private / "runtime")  # its files hold the token
    query = f"?token={token}" if token else ""
    hosts = [s.local_host] if s.local_host != "127.0.0.1" else ["127.0.0.1", socket.gethostname()]
    links = [f"http://{Address(h, s.jupyter_port).hostport}/lab{query}" for h in hosts]
    login = "log in with MSPASS_JUPYTER_PWD" if not token else "the token is in the URL"
    return Service(
        name="jupyter",
        argv=[sys.executable, "-m", "jupyter", "lab", f"--config={config}"],
        needs=needs(s) if wait else [],
        probe=HttpProbe(f"http://{s.local_hostport(s.jupyter_port)}/api", expect="version"),
        env=env,
        cwd=s.work_dir,
        log=s.log_dir / f"jupyter-{s.node_name}.log",
        summary=f"JupyterLab on {s.bind_hostport(s.jupyter_port)}, notebooks in {s.work_dir} ({mspass_label()})",
        ready_message=f"\n  Jupyter is ready ({login}):\n" + "".join(f"    {u}\n" for u in links),
        urls={"jupyter": links[0]},
        before_start=write_config,
        after_stop=remove_config,
    )


def services(s: Settings, batch: Batch | None = None) -> list[Service]:
    return [batch_service(s, batch)] if batch else [jupyter_service(s)]
