"""`mspass-hpc`: a MsPASS virtual cluster on the nodes of a Slurm job.

Run from a job script (scripts/template/run_mspass.sh) on the job's first node, with the
host's python3 (>= 3.10, standard library only). It reads the allocation, assigns roles
to nodes from a small layout, starts one container per role per node with `srun` and
Apptainer/Singularity, writes the connection info to the work dir, waits until every
role answers, runs the notebook (or Jupyter), and stops everything, the database last,
when the notebook ends or the job is signalled (scancel, or `#SBATCH --signal` before
walltime). `--dry-run` prints the exact commands instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import sys
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import credentials
from .mongo_admin import CONFIG_PORT_OFFSET, CONFIG_REPLICA_SET
from .plan import Plan, Service
from .probes import RoleStateProbe
from .settings import DEFAULT_PORTS
from .supervisor import Options, Supervisor

PROG = "mspass-hpc"
SCHEDULERS = ("dask", "spark")
#: variables of the contract a role container receives from this job's environment
FORWARDED = re.compile(r"^(MSPASS_|MONGODB_PORT$|DASK_|SPARK_|JUPYTER_PORT$|MONGO_INITDB_ROOT_)")
#: variables of the job script itself, meaningless inside a container
HOST_SIDE = {"MSPASS_CONTAINER", "MSPASS_RUNSCRIPT", "MSPASS_HPC_ARGS", "MSPASS_CONTAINER_RUNTIME", "MSPASS_PYTHON",
             "MSPASS_LAUNCHER_EXTRA"}
STOP_GRACE = 90.0  # seconds for srun steps to end after SIGTERM; the database needs its time


class HpcError(Exception):
    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------- hostlists
def expand_hostlist(text: str) -> list[str]:
    """Slurm's compact host lists: 'c[001-003,010],gpu1' -> c001 c002 c003 c010 gpu1."""
    hosts: list[str] = []
    for item in _split_top_level(text.strip()):
        match = re.fullmatch(r"([^\[\]]*)\[([^\[\]]+)\](.*)", item)
        if not match:
            if not re.fullmatch(r"[A-Za-z0-9._-]+", item):
                raise HpcError(f"cannot read host list {text!r} at {item!r}")
            hosts.append(item)
            continue
        prefix, ranges, rest = match.groups()
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise HpcError(f"cannot read host list {text!r} at {part!r}")
            width = len(lo)
            for n in range(int(lo), int(hi or lo) + 1):
                for tail in expand_hostlist(rest) if rest else [""]:
                    hosts.append(f"{prefix}{n:0{width}d}{tail}")
    return hosts


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [i for i in items if i]


# ---------------------------------------------------------------------- the plan
@dataclass
class Layout:
    scheduler: str = "dask"
    primary: int = 0  # index of the node that runs scheduler, db and frontend
    worker_on_primary: bool = False
    workers_per_node: int = 1  # dask worker processes per worker node (--nworkers)
    ports: str = "auto"  # auto: per-job ports, so two jobs on one node do not collide
    all_in_one: bool = False  # role `all` on the primary node only
    #: a database login and dask over TLS (per-job certificates), the dashboard on loopback:
    #: other users of the cluster's nodes reach none of the job's services
    secure: bool = True
    #: sharded MongoDB: dbmanager on the primary node, a shard on every worker node
    sharded: bool = False


@dataclass
class Launch:
    role: str
    nodes: list[str]
    env: dict[str, str]  # settings for the role, passed as APPTAINERENV_/SINGULARITYENV_
    args: list[str] = field(default_factory=list)  # arguments of the entrypoint
    foreground: bool = False  # the frontend's batch run: its exit code is the job's
    #: the step's name, where a role has one launch per node (shards); default: the role
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.role


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
         notebook: str | None, notebook_args: list[str] | None = None) -> list[Launch]:
    if layout.scheduler not in SCHEDULERS:
        raise HpcError(f"scheduler={layout.scheduler!r}; valid: {', '.join(SCHEDULERS)}")
    if not 0 <= layout.primary < len(nodes):
        raise HpcError(f"primary={layout.primary} but the job has {len(nodes)} node(s)")
    primary = nodes[layout.primary]  # nodes reach each other by the names Slurm uses
    common = {k: v for k, v in env.items() if FORWARDED.match(k) and k not in HOST_SIDE}
    common.update(job_ports(job_id, layout.ports, env))
    # on the shared file system, where this launcher reads each role's state
    common["MSPASS_RUN_DIR"] = str(run_dir(env, job_id))
    common["MSPASS_SCHEDULER"] = layout.scheduler
    common.update(JobCredentials.for_job(layout, env, run_dir(env, job_id)).variables)
    batch = ["--batch", notebook, *(notebook_args or [])] if notebook else []
    if layout.all_in_one and layout.sharded:
        raise HpcError("--sharded and --all-in-one: a sharded database needs nodes of its own; choose one")
    if layout.all_in_one:
        return [Launch("all", [primary], {**common, "MSPASS_ROLE": "all"}, batch, foreground=bool(notebook))]

    addresses = {"MSPASS_DB_ADDRESS": f"{primary}:{common['MONGODB_PORT']}",
                 "MSPASS_SCHEDULER_ADDRESS": f"{primary}:{scheduler_port(layout, common)}"}
    workers = [n for n in nodes if n != primary or layout.worker_on_primary]
    if not workers:
        raise HpcError("no node is left for workers: ask for more nodes or set worker_on_primary")
    database = [Launch("db", [primary], {**common, "MSPASS_ROLE": "db"})]
    if layout.sharded:
        if any(k.startswith("MONGO_INITDB_ROOT_") for k in env):
            raise HpcError("MONGO_INITDB_ROOT_* with --sharded: a sharded database has no login in this version "
                           "(its members would also need a shared key file); unset them, or drop --sharded")
        # not beside mongos on the primary node: shards take the same port
        shard_nodes = [n for n in nodes if n != primary]
        database = sharded_database(primary, shard_nodes, nodes, common)
    worker_env = {**common, "MSPASS_ROLE": "worker", **addresses}
    if layout.workers_per_node > 1 and layout.scheduler == "dask":
        worker_env["MSPASS_WORKER_ARG"] = f"{common.get('MSPASS_WORKER_ARG', '')} " \
                                          f"--nworkers {layout.workers_per_node}".strip()
    return [
        *database,
        Launch("scheduler", [primary], {**common, "MSPASS_ROLE": "scheduler"}),
        Launch("worker", workers, worker_env),
        Launch("frontend", [primary], {**common, "MSPASS_ROLE": "frontend", **addresses}, batch,
               foreground=bool(notebook)),
    ]


def sharded_database(primary: str, shard_nodes: list[str], nodes: list[str], common: dict[str, str]) -> list[Launch]:
    """A shard on each node of `shard_nodes`, its id from the node's index in the job's
    allocation (rs0, rs1, ...: the same ids for a job of as many nodes, on whichever nodes,
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


def runtime_argv(launch: Launch, runtime: str, container: str) -> list[str]:
    """srun places one task per node of the launch; --overlap lets steps share nodes."""
    nodes = launch.nodes
    return ["srun", f"--nodes={len(nodes)}", f"--ntasks={len(nodes)}", "--ntasks-per-node=1",
            f"--nodelist={','.join(nodes)}", "--overlap", f"--job-name=mspass-{launch.role}",
            runtime, "run", "--no-eval", container, *launch.args]


def runtime_env(launch: Launch, runtime: str) -> dict[str, str]:
    prefix = "SINGULARITYENV_" if Path(runtime).name == "singularity" else "APPTAINERENV_"
    return {prefix + k: v for k, v in launch.env.items()}


def supervised_plan(launches: list[Launch], runtime: str, container: str, log_dir: Path, job_id: str,
                    hooks: "JobInfo") -> Plan:
    """One service per launch (an srun step), run by the same supervisor as a role's
    services. A step is ready when the supervisor of its role on every node says so in
    its state file: each role's readiness is defined once, by the role."""
    services = []
    last = launches[-1]
    for launch in launches:
        others = tuple(other.name for other in launches if other is not launch)
        probe = None
        if not launch.foreground:
            probe = RoleStateProbe(launch.env["MSPASS_RUN_DIR"], launch.role, len(launch.nodes), timeout=5.0,
                                   node=launch.env.get("MSPASS_NODE_NAME", "") if launch.name != launch.role else "")
        service = Service(
            name=launch.name,
            argv=runtime_argv(launch, runtime, container),
            env=runtime_env(launch, runtime),
            probe=probe,
            # the notebook's output is the job's output
            log=None if launch.foreground else log_dir / f"hpc-{job_id}-{launch.name}.out",
            main=launch.foreground,
            # the frontend (the notebook) starts once every other role answers
            after=others if launch.role == "frontend" else (),
            stop_timeout=STOP_GRACE,
            summary=f"{launch.name} on {','.join(launch.nodes)}",
        )
        if launch is last:
            if probe is None:
                service.before_start = hooks.running
                service.after_stop = hooks.stopping
            else:
                service.on_ready = hooks.jupyter_ready
        services.append(service)
    return Plan(role="hpc", services=services)


class JobInfo:
    """`mspass-job-ID.json` in the work dir: the job's nodes, layout, addresses and state
    (starting, running, stopping, ended), for the user and for scripts."""

    def __init__(self, layout: Layout, launches: list[Launch], nodes: list[str], job_id: str, work_dir: Path):
        self.layout = layout
        self.launches = launches
        self.nodes = nodes
        self.job_id = job_id
        self.path = work_dir / f"mspass-job-{job_id}.json"
        self.host = nodes[layout.primary]
        self.run_dir = Path(launches[0].env["MSPASS_RUN_DIR"])

    def write(self, state: str) -> str | None:
        e = self.launches[0].env
        port = scheduler_port(self.layout, e)
        info = {
            "job_id": self.job_id,
            "state": state,
            "nodes": self.nodes,
            "layout": asdict(self.layout),
            "roles": [{"role": launch.role, "nodes": launch.nodes} for launch in self.launches],
            "db": f"mongodb://{self.host}:{e['MONGODB_PORT']}/",
            "scheduler": f"{self.scheduler_scheme()}://{self.host}:{port}",
            "jupyter": f"http://{self.host}:{e['JUPYTER_PORT']}/lab",
        }
        try:
            self.path.write_text(json.dumps(info, indent=1))
        except OSError as err:
            return f"WARNING: cannot write {self.path}: {err}"
        return None

    def scheduler_scheme(self) -> str:
        if self.layout.scheduler == "spark":
            return "spark"
        return "tls" if credentials.DASK_TLS + "CA_FILE" in self.launches[0].env else "tcp"

    def running(self) -> str | None:
        return self.write("running")

    def stopping(self) -> str | None:
        return self.write("stopping")

    def jupyter_ready(self) -> str:
        """The ssh tunnel to Jupyter, with the token from the frontend's state file."""
        self.write("running")
        e = self.launches[-1].env
        url = ""
        for path in self.run_dir.glob(f"{self.launches[-1].role}-*.json"):
            try:
                for service in json.loads(path.read_text()).get("services", []):
                    url = service.get("urls", {}).get("jupyter", url)
            except (OSError, ValueError):
                continue
        query = urllib.parse.urlsplit(url).query
        login = os.environ.get("SLURM_SUBMIT_HOST", "LOGIN_NODE")
        domain = os.environ.get("HOSTNAME_BASE", "").strip(".")
        if domain and "." not in login:  # reachable from outside by its full name
            login = f"{login}.{domain}"
        ui = e["SPARK_MASTER_WEBUI_PORT"] if self.layout.scheduler == "spark" else e["DASK_DASHBOARD_PORT"]
        # on the user's computer, the usual ports
        jupyter, dashboard = DEFAULT_PORTS["JUPYTER_PORT"], DEFAULT_PORTS["DASK_DASHBOARD_PORT"]
        if e.get("MSPASS_DASHBOARD_ADDRESS") == "127.0.0.1":
            # the dashboard listens on the node's loopback only: the tunnel ends on the node,
            # through the login node (ssh to the nodes of one's own job is the usual rule)
            tunnel = (f"ssh -N -J {login} -L {jupyter}:localhost:{e['JUPYTER_PORT']} "
                      f"-L {dashboard}:localhost:{ui} {self.host}")
        else:
            tunnel = f"ssh -N -L {jupyter}:{self.host}:{e['JUPYTER_PORT']} -L {dashboard}:{self.host}:{ui} {login}"
        return ("Jupyter runs on the compute node. From your computer:\n"
                f"    {tunnel}\n"
                f"  then open http://localhost:{jupyter}/lab{'?' + query if query else ''}"
                f" (dashboard: http://localhost:{dashboard}/)")


def run(layout: Layout, launches: list[Launch], runtime: str, container: str, nodes: list[str], job_id: str,
        work_dir: Path, log_dir: Path, wait_timeout: float) -> int:
    info = JobInfo(layout, launches, nodes, job_id, work_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    info.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    plan = supervised_plan(launches, runtime, container, log_dir, job_id, info)
    options = Options(node=socket.gethostname(), env=dict(os.environ), ready_timeout=wait_timeout,
                      wait_timeout=wait_timeout)
    info.write("starting")
    try:
        return Supervisor(plan, options).run()
    finally:
        info.write("ended")
        shutil.rmtree(info.run_dir, ignore_errors=True)  # the roles' state and private config


# ---------------------------------------------------------------------- entry point
def allocation(env: dict[str, str]) -> list[str]:
    text = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not text:
        raise HpcError("not inside a Slurm job: SLURM_JOB_NODELIST is not set (submit with sbatch, or use "
                       "salloc)")
    return expand_hostlist(text)


def find_runtime(env: dict[str, str]) -> str:
    wanted = env.get("MSPASS_CONTAINER_RUNTIME")
    for name in ([wanted] if wanted else ["apptainer", "singularity"]):
        if shutil.which(name):
            return name
    raise HpcError(f"no container runtime: {wanted or 'apptainer or singularity'} is not on PATH "
                   "(load its module, or set MSPASS_CONTAINER_RUNTIME)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the roles on this job's nodes; run NOTEBOOK, or Jupyter without one",
                         usage=f"{PROG} run [options] [NOTEBOOK [papermill options]]")
    run.add_argument("--scheduler", choices=SCHEDULERS, help="default: MSPASS_SCHEDULER, else dask")
    run.add_argument("--primary", type=int, default=0, help="index of the node for scheduler, db, frontend")
    run.add_argument("--worker-on-primary", action="store_true", help="also run a worker on the primary node")
    run.add_argument("--workers-per-node", type=int, default=1, help="dask worker processes per worker node")
    run.add_argument("--ports", choices=("auto", "default"), default="auto",
                     help="auto (default): a block of ports from the job id; default: the usual ports")
    run.add_argument("--all-in-one", action="store_true", help="one all-in-one container on the primary node")
    run.add_argument("--insecure", action="store_true",
                     help="no database login, dask over plain TCP, the dashboard on the node's network: any user "
                          "of the cluster can then reach the job's data and run code as you (default: secure)")
    run.add_argument("--sharded", action="store_true",
                     help="sharded MongoDB (an image with MongoDB): dbmanager on the primary node, a shard on every "
                          "worker node (ids rs0, rs1, ... from the nodes' order); the database then has no login "
                          "in this version, dask keeps its TLS")
    run.add_argument("--dry-run", action="store_true", help="print the commands, start nothing")
    run.add_argument("notebook", nargs="?", help="notebook or script to run in batch mode (in the work dir)")
    run.add_argument("notebook_args", nargs=argparse.REMAINDER, help="papermill options or script arguments")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = dict(os.environ)
    try:
        layout = Layout(scheduler=args.scheduler or env.get("MSPASS_SCHEDULER") or "dask", primary=args.primary,
                        worker_on_primary=args.worker_on_primary, workers_per_node=args.workers_per_node,
                        ports=args.ports, all_in_one=args.all_in_one, secure=not args.insecure,
                        sharded=args.sharded)
        nodes = allocation(env)
        job_id = env.get("SLURM_JOB_ID", "0")
        container = env.get("MSPASS_CONTAINER", "")
        if not container:
            raise HpcError("MSPASS_CONTAINER is not set; valid: the path of the MsPASS SIF (see mspass_setup.sh)")
        if args.dry_run:  # print what would run, even where no runtime is installed
            runtime = env.get("MSPASS_CONTAINER_RUNTIME") or "apptainer"
        else:
            runtime = find_runtime(env)
        if not args.dry_run and not Path(container).is_file():
            raise HpcError(f"MSPASS_CONTAINER={container!r}: no such file")
        launches = plan(layout, nodes, env, job_id, args.notebook, args.notebook_args)
    except HpcError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return err.code
    if layout.sharded and layout.secure:
        print(f"{PROG}: note: the sharded database has no login in this version: other users of these nodes "
              "can reach it (dask keeps its TLS, the dashboard its loopback)", file=sys.stderr)
    if args.dry_run:
        print(f"# nodes: {' '.join(nodes)}; layout: {asdict(layout)}")
        for launch in launches:
            env_words = [f"{k}={shlex.quote(v)}" for k, v in sorted(runtime_env(launch, runtime).items())]
            tail = "" if launch.foreground else " &"
            print(" ".join(env_words + [shlex.join(runtime_argv(launch, runtime, container))]) + tail)
        return 0
    work_dir = job_work_dir(env)
    log_dir = Path(env.get("MSPASS_LOG_DIR") or work_dir / "logs")
    try:
        run_dir(env, job_id).mkdir(parents=True, exist_ok=True, mode=0o700)
        JobCredentials.for_job(layout, env, run_dir(env, job_id)).make()
    except HpcError as err:
        shutil.rmtree(run_dir(env, job_id), ignore_errors=True)
        print(f"{PROG}: {err}", file=sys.stderr)
        return err.code
    wait = float(env.get("MSPASS_WAIT_TIMEOUT") or 300)
    return run(layout, launches, runtime, container, nodes, job_id, work_dir, log_dir, wait)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
