"""The launcher's core: a layout of roles on a job's nodes, the steps that run them, and the
job file. Batch-system specifics come from a batch-system object (slurm.py); how the user
reaches the job's web pages comes from access.py.

Everything here and everything it imports runs on Python 3.9's standard library: HPC nodes
often have nothing newer (tests/unit/test_hpc_python39.py checks it).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .. import credentials
from ..files import keep_output_private
from ..mongo_admin import CONFIG_PORT_OFFSET, CONFIG_REPLICA_SET
from ..plan import Plan, Service
from ..probes import RoleStateProbe
from ..settings import DEFAULT_PORTS
from ..supervisor import Options, Supervisor
from . import access
from .errors import HpcError

SCHEDULERS = ("dask", "spark")
#: which roles a launcher process runs: all of them, the services only (db, scheduler,
#: workers: HPCClusterLauncher.launch), or the frontend only, against running services
PARTS = ("all", "services", "frontend")
#: variables of the contract a role container receives from this job's environment
FORWARDED = re.compile(r"^(MSPASS_|MONGODB_PORT$|DASK_|SPARK_|JUPYTER_PORT$|MONGO_INITDB_ROOT_)")
#: variables of the job script itself, meaningless inside a container. MSPASS_HOME is the
#: checkout on the cluster in MsPASS's guide (mspass_setup.sh), the schema's directory in the
#: image: the containers get it empty, so that each uses its own mspasspy's
HOST_SIDE = {"MSPASS_CONTAINER", "MSPASS_RUNSCRIPT", "MSPASS_HPC_ARGS", "MSPASS_CONTAINER_RUNTIME", "MSPASS_PYTHON",
             "MSPASS_LAUNCHER_EXTRA", "MSPASS_HOME"}
#: the launcher's own plan: its state file, LAUNCHER_ROLE-NODE.json in the run dir, says when
#: every step is ready (HPCClusterLauncher waits on it)
LAUNCHER_ROLE = "hpc"
STOP_GRACE = 90.0  # seconds for srun steps to end after SIGTERM; the database needs its time


# ---------------------------------------------------------------------- the layout
#: a Layout field as the user sets it: mspass-hpc's option, and HPCClusterLauncher's YAML key
#: where it has one (the others it sets from host names)
USER_TERMS = {
    "primary": ("--primary", ""),
    "scheduler_node": ("--scheduler-node", ""),
    "db_node": ("--db-node", ""),
    "workers_per_node": ("--workers-per-node", "workers_per_node"),
    "primary_workers": ("--primary-workers", "primary_node_workers"),
    "threads_per_worker": ("--threads-per-worker", ""),
}


def user_setting(name: str, value: object) -> str:
    """Layout's field `name` set to value, as the user writes it: messages name that, not the field."""
    option, key = USER_TERMS[name]
    return f"{option} {value}" + (f" ({key}: {value} in HPCClusterLauncher.yaml)" if key else "")


@dataclass
class Layout:
    scheduler: str = "dask"
    #: index of the node that runs the frontend (Jupyter, or the notebook), and by default
    #: the scheduler and the database
    primary: int = 0
    #: index of the node of the scheduler, of the database; None: the primary node's
    scheduler_node: int | None = None
    db_node: int | None = None
    #: dask worker processes on the primary node (0: none there)
    primary_workers: int = 0
    #: dask worker processes on every worker node (--nworkers)
    workers_per_node: int = 1
    #: threads of each worker process (--nthreads); 0: dask's default, the node's cores
    #: shared among its processes
    threads_per_worker: int = 0
    #: indices of the worker nodes; empty: every node that runs none of the other roles
    worker_nodes: tuple[int, ...] = ()
    ports: str = "auto"  # auto: per-job ports, so two jobs on one node do not collide
    all_in_one: bool = False  # role `all` on the primary node only
    #: a database login and dask over TLS (per-job certificates), the dashboard on loopback:
    #: other users of the cluster's nodes reach none of the job's services
    secure: bool = True
    #: sharded MongoDB: dbmanager on the primary node, a shard on every worker node
    sharded: bool = False
    #: how the user reaches Jupyter and the dashboard: forward (the user's ssh through the
    #: login node) or reverse (the job's ssh to the login nodes)
    tunnel: str = "forward"

    def node(self, nodes: list[str], index: int | None, what: str) -> str:
        index = self.primary if index is None else index
        if not 0 <= index < len(nodes):
            raise HpcError(f"{user_setting(what, index)}, but the job has {len(nodes)} node(s): valid 0 to "
                           f"{len(nodes) - 1} (indices in the job's node list)")
        return nodes[index]

    def placement(self, nodes: list[str]) -> dict[str, str]:
        """The node of the frontend, the scheduler and the database."""
        return {"frontend": self.node(nodes, self.primary, "primary"),
                "scheduler": self.node(nodes, self.scheduler_node, "scheduler_node"),
                "db": self.node(nodes, self.db_node, "db_node")}

    def workers(self, nodes: list[str]) -> list[tuple[str, list[str], int]]:
        """(step name, nodes, worker processes per node) of each group of worker nodes."""
        for what, count in (("workers_per_node", self.workers_per_node), ("primary_workers", self.primary_workers),
                            ("threads_per_worker", self.threads_per_worker)):
            if count < 0:
                raise HpcError(f"{user_setting(what, count)}; valid: 0 or more")
        placed = self.placement(nodes)
        primary = placed["frontend"]
        if self.worker_nodes:
            others = [self.node(nodes, i, "worker_nodes") for i in self.worker_nodes]
        else:
            others = [n for n in nodes if n not in placed.values()]
        others = [n for n in others if n != primary]
        groups = []
        if self.primary_workers:
            groups.append(("worker-primary", [primary], self.primary_workers))
        if others and self.workers_per_node:
            groups.append(("worker", others, self.workers_per_node))
        if not groups:
            raise HpcError(f"no node is left for workers: the frontend, scheduler and database take the job's "
                           f"{len(nodes)} node(s). Ask for {len(nodes) + 1} nodes (sbatch --nodes={len(nodes) + 1}), "
                           f"or run workers beside them: {user_setting('primary_workers', 'N')}")
        return groups


@dataclass
class Launch:
    role: str
    nodes: list[str]
    env: dict[str, str]  # settings for the role, passed as APPTAINERENV_/SINGULARITYENV_
    args: list[str] = field(default_factory=list)  # arguments of the entrypoint
    foreground: bool = False  # the frontend's batch run: its exit code is the job's
    #: the step's name, where a role has more than one launch (shards, workers); default: the role
    name: str = ""
    #: how many nodes run this role in the whole job (its state files to wait for)
    role_nodes: int = 0

    def __post_init__(self) -> None:
        self.name = self.name or self.role
        self.role_nodes = self.role_nodes or len(self.nodes)


def job_ports(job_id: str, mode: str, env: dict[str, str]) -> dict[str, str]:
    """Ports for this job: the user's where set, else defaults or a per-job block."""
    if mode == "default":
        chosen = dict(DEFAULT_PORTS)
    elif mode == "auto":
        # ten ports per job between 20000 and 39999, from the job id; the database's last,
        # since a dbmanager's config server takes the port after it (MsPASS's layout)
        base = 20000 + (int(re.sub(r"\D", "", job_id) or 0) % 2000) * 10
        order = sorted(DEFAULT_PORTS, key=lambda name: name == "MONGODB_PORT")
        chosen = {name: base + i for i, name in enumerate(order)}
    else:
        raise HpcError(f"ports={mode!r}; valid: auto, default")
    return {name: env.get(name) or str(port) for name, port in chosen.items()}


@dataclass
class JobCredentials:
    """What a secure job hands its roles (paths only): dask's CA and certificate (Spark: its
    shared secret), made per job in its private run dir (removed at the end), and the database login, whose password
    lives beside the database's files (`MSPASS_DB_DIR`.password, mode 0600): the database
    keeps the user it was made with, so a later job on the same data needs the same one.
    A login or TLS variable the user set wins over ours (then we make none of that kind)."""

    tls_dir: Path | None
    password_file: Path | None
    variables: dict[str, str]
    spark_secret: Path | None = None

    @classmethod
    def for_job(cls, layout: Layout, env: dict[str, str], run_dir: Path) -> "JobCredentials":
        if not layout.secure:
            return cls(None, None, {})
        variables: dict[str, str] = {}
        password_file = tls_dir = None
        if not layout.sharded and not any(k.startswith("MONGO_INITDB_ROOT_") for k in env):
            password_file = Path(f"{db_dir(env)}.password")
            variables.update(credentials.login_variables(password_file))
        if layout.scheduler == "dask" and not any(k.startswith(credentials.DASK_TLS) for k in env):
            tls_dir = run_dir / "tls"
            variables.update(credentials.tls_variables(tls_dir))
        if layout.scheduler == "dask" and "MSPASS_DASHBOARD_ADDRESS" not in env:
            variables["MSPASS_DASHBOARD_ADDRESS"] = "127.0.0.1"  # it has no login: reached by ssh tunnel
        spark_secret = None
        if layout.scheduler == "spark" and not any(k.startswith("MSPASS_SPARK_SECRET") for k in env):
            spark_secret = run_dir / "spark.secret"
            variables.update(credentials.spark_variables(spark_secret))
        return cls(tls_dir, password_file, variables, spark_secret)

    def make(self) -> None:
        """Write the files (before any role starts). A database made without a login
        cannot be given one by a password we make now: that is an error, before anything
        starts, that says what to do."""
        if self.password_file and not self.password_file.exists():
            data = self.password_file.with_suffix("")
            if data.is_dir() and any(data.iterdir()):
                raise HpcError(f"the database in {data} was made without a login (by a job with --insecure, or "
                               "an earlier version), so this job cannot require one: run it with --insecure, or "
                               f"move {data} away to start a new database with a login")
            credentials.make_login(self.password_file)
        if self.tls_dir:
            try:
                credentials.make_tls(self.tls_dir)
            except credentials.CredentialsError as err:
                raise HpcError(f"{err} (or run with --insecure)") from None
        if self.spark_secret:
            credentials.make_spark_secret(self.spark_secret)


def db_dir(env: dict[str, str]) -> Path:
    return Path(env.get("MSPASS_DB_DIR") or job_work_dir(env) / "db")


def scheduler_port(layout: Layout, env: dict[str, str]) -> str:
    return env["SPARK_MASTER_PORT"] if layout.scheduler == "spark" else env["DASK_SCHEDULER_PORT"]


def plan(layout: Layout, nodes: list[str], env: dict[str, str], job_id: str,
         notebook: str | None, notebook_args: list[str] | None = None, part: str = "all") -> list[Launch]:
    """The container launches of the job's roles, the database first and the frontend last
    (they stop in the reverse order)."""
    if layout.scheduler not in SCHEDULERS:
        raise HpcError(f"scheduler={layout.scheduler!r}; valid: {', '.join(SCHEDULERS)}")
    if part not in PARTS:
        raise HpcError(f"part={part!r}; valid: {', '.join(PARTS)}")
    if layout.tunnel not in access.TUNNELS:
        raise HpcError(f"tunnel={layout.tunnel!r}; valid: {', '.join(access.TUNNELS)}")
    placed = layout.placement(nodes)  # nodes reach each other by the names Slurm uses
    common = {k: v for k, v in env.items() if FORWARDED.match(k) and k not in HOST_SIDE}
    common.update(job_ports(job_id, layout.ports, env))
    # on the shared file system, where this launcher reads each role's state
    common["MSPASS_RUN_DIR"] = str(run_dir(env, job_id))
    common["MSPASS_SCHEDULER"] = layout.scheduler
    common.update(JobCredentials.for_job(layout, env, run_dir(env, job_id)).variables)
    # what a notebook's `dask_client` links to: the tunnel's end (a link the user set wins)
    if layout.scheduler == "dask":
        common.setdefault("DASK_DISTRIBUTED__DASHBOARD__LINK", access.DASHBOARD_LINK)
    batch = ["--batch", notebook, *(notebook_args or [])] if notebook else []
    if layout.all_in_one and layout.sharded:
        raise HpcError("--sharded and --all-in-one: a sharded database needs nodes of its own; choose one")
    if layout.all_in_one:
        if part != "all":
            raise HpcError("the all-in-one layout runs as one container: it has no separate services to launch")
        return [Launch("all", [placed["frontend"]], {**common, "MSPASS_ROLE": "all"}, batch,
                       foreground=bool(notebook))]

    addresses = {"MSPASS_DB_ADDRESS": f"{placed['db']}:{common['MONGODB_PORT']}",
                 "MSPASS_SCHEDULER_ADDRESS": f"{placed['scheduler']}:{scheduler_port(layout, common)}"}
    groups = layout.workers(nodes)
    database = [Launch("db", [placed["db"]], {**common, "MSPASS_ROLE": "db"})]
    if layout.sharded:
        if any(k.startswith("MONGO_INITDB_ROOT_") for k in env):
            raise HpcError("MONGO_INITDB_ROOT_* with --sharded: a sharded database has no login in this version "
                           "(its members would also need a shared key file); unset them, or drop --sharded")
        # not beside mongos on the database's node: shards take the same port
        shard_nodes = [n for n in nodes if n != placed["db"]]
        database = sharded_database(placed["db"], shard_nodes, nodes, common)
    launches = [*database, Launch("scheduler", [placed["scheduler"]], {**common, "MSPASS_ROLE": "scheduler"})]
    worker_nodes = sum(len(group_nodes) for _, group_nodes, _ in groups)
    for name, group_nodes, processes in groups:
        env_worker = {**common, "MSPASS_ROLE": "worker", **addresses}
        env_worker["MSPASS_WORKER_ARG"] = worker_arg(layout, common.get("MSPASS_WORKER_ARG", ""), processes)
        if not env_worker["MSPASS_WORKER_ARG"]:
            del env_worker["MSPASS_WORKER_ARG"]
        launches.append(Launch("worker", group_nodes, env_worker, name=name, role_nodes=worker_nodes))
    frontend = Launch("frontend", [placed["frontend"]], {**common, "MSPASS_ROLE": "frontend", **addresses}, batch,
                      foreground=bool(notebook))
    if part == "frontend":
        return [frontend]
    return launches if part == "services" else [*launches, frontend]


def worker_arg(layout: Layout, given: str, processes: int) -> str:
    """MSPASS_WORKER_ARG of a worker node: the user's, then its processes and threads."""
    words = [given] if given else []
    if layout.scheduler == "spark":
        if processes > 1 or layout.threads_per_worker:
            raise HpcError("worker processes and threads are dask's: a Spark worker uses every core of its node; "
                           "drop --workers-per-node, --primary-workers above 1 and --threads-per-worker")
        return given
    if processes > 1:
        words.append(f"--nworkers {processes}")
    if layout.threads_per_worker:
        words.append(f"--nthreads {layout.threads_per_worker}")
    return " ".join(words)


def sharded_database(primary: str, shard_nodes: list[str], nodes: list[str], common: dict[str, str]) -> list[Launch]:
    """A shard on each node of `shard_nodes`, its id from the node's index in the job's
    allocation (rsN: rs1, rs2, ... with the database on node 0; the same ids for a job of as
    many nodes, on whichever nodes,
    so a later job finds each shard's data by id), and the dbmanager on the primary node."""
    port = common["MONGODB_PORT"]
    shards = [(f"rs{nodes.index(node)}", node) for node in shard_nodes]
    # where this job's config server is: shards of an earlier job's data are told first
    config_server = f"{CONFIG_REPLICA_SET}/{primary}:{int(port) + CONFIG_PORT_OFFSET}"
    launches = [Launch("shard", [node], {**common, "MSPASS_ROLE": "shard", "MSPASS_SHARD_ID": sid,
                                         "MSPASS_NODE_NAME": node, "MSPASS_CONFIG_SERVER_ADDR": config_server},
                       name=f"shard-{sid}")
                for sid, node in shards]
    shard_list = " ".join(f"{sid}/{node}:{port}" for sid, node in shards)
    return [*launches, Launch("dbmanager", [primary], {**common, "MSPASS_ROLE": "dbmanager",
                                                       "MSPASS_SHARD_LIST": shard_list})]


def job_work_dir(env: dict[str, str]) -> Path:
    return Path(env.get("MSPASS_WORK_DIR") or os.getcwd())


def run_dir(env: dict[str, str], job_id: str) -> Path:
    """The roles' state, private config and the job's certificates: mode 0700, removed at the end."""
    return job_work_dir(env) / f".mspass-job-{job_id}"


# ---------------------------------------------------------------------- the steps
def step_name(name: str) -> str:
    """The job step's name: one per launch, so that one step can be stopped by name."""
    return f"mspass-{name}"


@dataclass
class Runtime:
    """How a role's container runs on a node: `RUNTIME run [ARGS] SIF` as a step of the job."""

    batch: object  # the batch system (slurm.Slurm)
    command: str  # apptainer or singularity
    container: str
    args: list[str] = field(default_factory=list)  # e.g. --home DIR (HPCClusterLauncher's container_run_args)

    def argv(self, launch: Launch) -> list[str]:
        return [*self.batch.step(launch.nodes, step_name(launch.name)), self.command, "run", "--no-eval", *self.args,
                self.container, *launch.args]

    def stop(self, launch: Launch) -> Callable[[], bool]:
        return functools.partial(self._stop, launch, dict(os.environ))

    def _stop(self, launch: Launch, env: dict[str, str]) -> bool:
        """SIGTERM to the role's own supervisor on each node (its pid from its state file), by
        a step on that node: it stops its services as on any stop (the database cleanly, a tmp
        database copied back). Not a signal through Slurm to the whole step: that reaches every
        process of it, Apptainer's FUSE mounts of the image too, and the role then dies of
        SIGBUS mid-stop; srun itself turns SIGTERM into SIGKILL. A node whose role wrote no
        state (not started) gets Slurm's signal to the step. When Slurm ends the job itself
        (scancel), it signals every process anyway: srun's SIGTERM then ends the step at once."""
        if self.batch.job_ending(env):
            return False
        run = Path(launch.env["MSPASS_RUN_DIR"])
        kills, unknown = [], False
        for node in launch.nodes:
            try:
                pid = int(json.loads((run / f"{launch.role}-{launch.env.get('MSPASS_NODE_NAME', node)}.json")
                                     .read_text())["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                unknown = True
                continue
            kills.append(subprocess.Popen([*self.batch.step([node], step_name(f"stop-{launch.name}")), "kill",
                                           "-TERM", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if any(kill.wait(30) for kill in kills) or unknown:
            self.batch.stop_step(env, step_name(launch.name))
        return True

    @property
    def env_prefix(self) -> str:
        """The runtime turns PREFIX_NAME into NAME inside the container."""
        return "SINGULARITYENV_" if Path(self.command).name == "singularity" else "APPTAINERENV_"

    def env(self, launch: Launch) -> dict[str, str]:
        blank = {name: "" for name in HOST_SIDE if name in os.environ}  # the runtime passes our environment on
        return {self.env_prefix + k: v for k, v in {**blank, **launch.env}.items()}


def supervised_plan(launches: list[Launch], runtime: Runtime, log_dir: Path, job_id: str, info: "JobInfo",
                    part: str = "all") -> Plan:
    """One service per launch (a step of the job), run by the same supervisor as a role's
    services. A step is ready when the supervisor of its role on every node says so in
    its state file: each role's readiness is defined once, by the role."""
    services = []
    for launch in launches:
        probe = None
        if not launch.foreground:
            probe = RoleStateProbe(launch.env["MSPASS_RUN_DIR"], launch.role, launch.role_nodes, timeout=5.0,
                                   node=launch.env.get("MSPASS_NODE_NAME", "") if launch.role == "shard" else "")
        service = Service(
            name=launch.name,
            argv=runtime.argv(launch),
            env=runtime.env(launch),
            probe=probe,
            # the notebook's output is the job's output
            log=None if launch.foreground else log_dir / f"hpc-{job_id}-{launch.name}.out",
            main=launch.foreground,
            stop=runtime.stop(launch),
            stop_timeout=STOP_GRACE,
            summary=f"{launch.name} on {','.join(launch.nodes)}",
        )
        if launch.role == "scheduler":
            service.on_ready = info.dashboard_ready
        if launch.role in ("frontend", "all"):
            if launch.foreground:
                service.before_start = info.batch_started
            else:
                service.on_ready = info.jupyter_ready
        services.append(service)
    has_frontend = launches[-1].role in ("frontend", "all")
    if part != "frontend":  # the job's ssh to the login nodes, before the frontend starts
        at = len(services) - 1 if has_frontend else len(services)
        services[at:at] = [Service(name=name, argv=[*runtime.batch.step([node], step_name(name)), *argv],
                                   log=log_dir / f"hpc-{job_id}-{name}.out", summary=f"{name} from {node}")
                           for name, node, argv in info.reverse_tunnels()]
    if has_frontend:
        frontend = services[-1]
        # the frontend (the notebook) starts once every other step answers
        frontend.after = tuple(s.name for s in services[:-1])
        if frontend.main and part == "all":
            frontend.after_stop = info.stopping
    return Plan(role=LAUNCHER_ROLE, services=services, on_ready=None if part == "frontend" else info.running)


class JobInfo:
    """`mspass-job-ID.json` in the work dir: the job's nodes, layout, addresses, how to reach
    its web pages and its state (starting, running, stopping, ended), for the user and for
    scripts (HPCClusterLauncher waits on it)."""

    def __init__(self, layout: Layout, launches: list[Launch], nodes: list[str], job_id: str, work_dir: Path,
                 env: dict[str, str], login: str, notebook: bool):
        self.layout = layout
        self.launches = launches
        self.nodes = nodes
        self.job_id = job_id
        self.path = work_dir / f"mspass-job-{job_id}.json"
        self.placed = layout.placement(nodes)
        self.env = launches[0].env
        self.run_dir = Path(self.env["MSPASS_RUN_DIR"])
        self.access = access.Access(layout, self.placed, self.env, env, job_id, login, jupyter=not notebook)

    def write(self, state: str) -> str | None:
        e = self.env
        info = {
            "job_id": self.job_id,
            "state": state,
            "nodes": self.nodes,
            "layout": asdict(self.layout),
            "roles": [{"role": launch.role, "name": launch.name, "nodes": launch.nodes} for launch in self.launches],
            "db": f"mongodb://{self.placed['db']}:{e['MONGODB_PORT']}/",
            "scheduler": f"{self.scheduler_scheme()}://{self.placed['scheduler']}:{scheduler_port(self.layout, e)}",
            "jupyter": f"http://{self.placed['frontend']}:{e['JUPYTER_PORT']}/lab",
            **self.access.describe(),
        }
        try:
            self.path.write_text(json.dumps(info, indent=1))
        except OSError as err:
            return f"WARNING: cannot write {self.path}: {err}"
        return None

    def scheduler_scheme(self) -> str:
        if self.layout.scheduler == "spark":
            return "spark"
        return "tls" if credentials.DASK_TLS + "CA_FILE" in self.env else "tcp"

    def running(self) -> str | None:
        return self.write("running")

    def stopping(self) -> str | None:
        return self.write("stopping")

    def reverse_tunnels(self) -> list[tuple[str, str, list[str]]]:
        return self.access.reverse_tunnels()

    def dashboard_ready(self) -> str:
        return self.access.message(jupyter_query=None)

    def batch_started(self) -> str | None:
        """A notebook run starts: the all-in-one container's dashboard is said here (it has
        no scheduler step of its own)."""
        return self.access.message(jupyter_query=None) if self.layout.all_in_one else None

    def jupyter_ready(self) -> str:
        """How to reach Jupyter (and the dashboard), with the token from the frontend's state file."""
        url = ""
        role = "all" if self.layout.all_in_one else "frontend"
        for path in self.run_dir.glob(f"{role}-*.json"):
            try:
                for service in json.loads(path.read_text()).get("services", []):
                    url = service.get("urls", {}).get("jupyter", url)
            except (OSError, ValueError):
                continue
        return self.access.message(jupyter_query=url.partition("?")[2])


def run(info: JobInfo, runtime: Runtime, log_dir: Path, wait_timeout: float, part: str = "all") -> int:
    """Run the job's launches under the supervisor until the notebook ends (or Jupyter, or a
    signal). The frontend part runs against the services another launcher process owns: it
    makes and removes nothing of theirs."""
    log_dir.mkdir(parents=True, exist_ok=True)
    keep_output_private(sys.stdout, sys.stderr)  # it will say Jupyter's token
    owner = part != "frontend"
    if owner:
        info.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    plan = supervised_plan(info.launches, runtime, log_dir, info.job_id, info, part)
    node = socket.gethostname()
    options = Options(node=node, env=dict(os.environ), ready_timeout=wait_timeout, wait_timeout=wait_timeout,
                      # HPCClusterLauncher learns there that every service is ready
                      state_file=info.run_dir / f"{LAUNCHER_ROLE}-{node}.json" if owner else None)
    if owner:
        info.write("starting")
    try:
        return Supervisor(plan, options).run()
    finally:
        if owner:
            info.write("ended")
            shutil.rmtree(info.run_dir, ignore_errors=True)  # the roles' state and private config
