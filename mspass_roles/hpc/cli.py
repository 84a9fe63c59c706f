"""`mspass-hpc run`: the command line of the launcher (run_mspass.sh calls it)."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

from . import access, core
from .errors import HpcError
from ..settings import DEFAULT_PORTS, VARIABLES
from .slurm import Slurm, expand_hostlist

PROG = "mspass-hpc"
SECRETS = {v.name for v in VARIABLES if v.secret}
#: names whose values --dry-run never prints, beside SECRETS: a path to a secret (NAME_FILE)
#: is shown, what it holds is never read here
SECRET_WORDS = re.compile(r"PASSWORD|PASSWD|PWD|TOKEN|SECRET|CREDENTIAL")
#: the batch systems the launcher knows; the first whose job this is runs it
BATCH_SYSTEMS = {"slurm": Slurm()}


def batch_system(env: dict[str, str], name: str = "") -> Slurm:
    if name:
        if name not in BATCH_SYSTEMS:
            raise HpcError(f"job scheduler {name!r}; valid: {', '.join(BATCH_SYSTEMS)}")
        return BATCH_SYSTEMS[name]
    return next((b for b in BATCH_SYSTEMS.values() if b.in_job(env)), BATCH_SYSTEMS["slurm"])


def find_runtime(env: dict[str, str]) -> str:
    wanted = env.get("MSPASS_CONTAINER_RUNTIME")
    for name in ([wanted] if wanted else ["apptainer", "singularity"]):
        if shutil.which(name):
            return name
    raise HpcError(f"no container runtime: {wanted or 'apptainer or singularity'} is not on PATH "
                   "(load its module, or set MSPASS_CONTAINER_RUNTIME)")


def indices(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(i) for i in text.split(",") if i.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: node indices, comma-separated (e.g. 2,3)") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="A MsPASS virtual cluster on the nodes of a batch job.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the roles on this job's nodes; run NOTEBOOK, or Jupyter without one",
                         usage=f"{PROG} run [options] [NOTEBOOK [papermill options]]",
                         description="Nodes are given by their index in the job's node list (0: the first). "
                                     "Default layout: database, scheduler and frontend on node 0, one worker "
                                     "container on every other node. To see a plan before submitting: "
                                     f"{PROG} run --dry-run --nodelist 'c[1-3]' [options] [NOTEBOOK].")
    run.add_argument("--scheduler", choices=core.SCHEDULERS, help="default: MSPASS_SCHEDULER, else dask")
    layout = run.add_argument_group("layout")
    layout.add_argument("--primary", type=int, default=0, metavar="I",
                        help="node of the frontend (Jupyter or the notebook), and by default of scheduler and db")
    layout.add_argument("--scheduler-node", type=int, metavar="I", help="node of the scheduler (default: primary)")
    layout.add_argument("--db-node", type=int, metavar="I", help="node of the database (default: primary)")
    layout.add_argument("--worker-nodes", type=indices, default=(), metavar="I,J",
                        help="the worker nodes (default: every node that runs no other role)")
    layout.add_argument("--workers-per-node", type=int, default=1, metavar="N",
                        help="dask worker processes on each worker node (default 1)")
    layout.add_argument("--primary-workers", type=int, default=0, metavar="N",
                        help="dask worker processes on the primary node too (default 0)")
    layout.add_argument("--worker-on-primary", action="store_true",
                        help="as many worker processes on the primary node as on a worker node")
    layout.add_argument("--threads-per-worker", type=int, default=0, metavar="N",
                        help="threads of each worker process (default: the node's cores shared among its "
                             "processes); --workers-per-node CORES --threads-per-worker 1: one process per core")
    layout.add_argument("--all-in-one", action="store_true", help="one all-in-one container on the primary node")
    layout.add_argument("--sharded", action="store_true",
                        help="sharded MongoDB (an image with MongoDB): dbmanager on the database's node, a shard "
                             "on every other node (ids rsN, N the node's index in the job: rs1, rs2, ... with the database on "
                             "node 0); the database then "
                             "has no login in this version, dask keeps its TLS")
    run.add_argument("--ports", choices=("auto", "default"), default="auto",
                     help="auto (default): a block of ports from the job id; default: the usual ports")
    run.add_argument("--insecure", action="store_true",
                     help="no database login, dask over plain TCP, the dashboard on the node's network: any user "
                          "of the cluster can then reach the job's data and run code as you (default: secure)")
    run.add_argument("--tunnel", choices=access.TUNNELS, default="forward",
                     help="forward (default): print the ssh command that reaches Jupyter and the dashboard through "
                          "the login node; reverse: for sites without ssh from login to compute nodes, the job "
                          "opens ssh tunnels to the login nodes (LOGIN_NODE_BASENAME, NUMBER_LOGIN_NODES, "
                          "LOGIN_PORT, STATUS_PORT)")
    run.add_argument("--container-args", default="", metavar="ARGS",
                     help="more options of `apptainer run` for every container, e.g. '--home DIR'")
    run.add_argument("--part", choices=core.PARTS, default="all",
                     help="all (default); services: database, scheduler and workers only, until stopped; "
                          "frontend: the frontend only, against the services of this job (HPCClusterLauncher)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the plan and start nothing: node by node, its roles and the command of each "
                          "(srun ... apptainer run ...), the settings the containers get (secrets hidden)")
    run.add_argument("--nodelist", metavar="HOSTS",
                     help="with --dry-run: the nodes to plan for, outside a job (Slurm's host list, e.g. c[1-3] "
                          "or c1,c2,c3; default: the job's, SLURM_JOB_NODELIST)")
    run.add_argument("notebook", nargs="?", help="notebook or script to run in batch mode (in the work dir)")
    run.add_argument("notebook_args", nargs=argparse.REMAINDER, help="papermill options or script arguments")
    return p


def layout_from(args: argparse.Namespace, env: dict[str, str]) -> core.Layout:
    return core.Layout(scheduler=args.scheduler or env.get("MSPASS_SCHEDULER") or "dask", primary=args.primary,
                       scheduler_node=args.scheduler_node, db_node=args.db_node, worker_nodes=args.worker_nodes,
                       primary_workers=args.workers_per_node if args.worker_on_primary else args.primary_workers,
                       workers_per_node=args.workers_per_node, threads_per_worker=args.threads_per_worker,
                       ports=args.ports, all_in_one=args.all_in_one, secure=not args.insecure,
                       sharded=args.sharded, tunnel=args.tunnel)


def describe(launches: list[core.Launch], nodes: list[str], layout: core.Layout) -> list[str]:
    """The layout, node by node: each node's line in --dry-run's plan."""
    lines = []
    for node in nodes:
        roles = []
        for launch in launches:
            if node in launch.nodes:
                extra = launch.env.get("MSPASS_WORKER_ARG", "") if launch.role == "worker" else ""
                roles.append(f"{launch.role}{' (' + extra + ')' if extra else ''}")
        lines.append(f"#   {node}: {', '.join(roles) or '(nothing)'}")
    return lines


def shown(name: str, value: str) -> str:
    """A setting's value as --dry-run prints it: a secret's never."""
    if name in SECRETS or (SECRET_WORDS.search(name) and not name.endswith("_FILE")):
        return "(hidden)"
    return shlex.quote(value)


def layout_words(layout: core.Layout, nodes: list[str], notebook: str | None, part: str) -> str:
    """The layout in the user's terms (the options that change it in brackets)."""
    placed = layout.placement(nodes)
    words = [f"scheduler {layout.scheduler}"]
    if part != "services":
        words.append(f"frontend on {placed['frontend']} (--primary {layout.primary}): "
                     + (f"runs {notebook}" if notebook else "Jupyter"))
    if layout.all_in_one:
        words.append("all-in-one: every service in one container")
    if layout.sharded:
        words.append("sharded database: a shard on every node but the database's")
    words.append(f"ports {layout.ports}" + (" (a block from the job id)" if layout.ports == "auto" else ""))
    if layout.secure:
        scheduler = ("dask over TLS, the dashboard on its node's loopback" if layout.scheduler == "dask"
                     else "Spark's shared secret")
        database = "no database login (sharded)" if layout.sharded else "a database login"
        words.append(f"secure: {database}, {scheduler}")
    else:
        words.append("insecure (--insecure): no database login, no TLS or shared secret")
    words.append(f"tunnel {layout.tunnel}")
    return "; ".join(words)


def plan_lines(launches: list[core.Launch], nodes: list[str], layout: core.Layout, runtime: core.Runtime,
               tunnels: list[tuple[str, str, list[str]]], job_id: str, notebook: str | None, part: str,
               in_job: bool = True) -> list[str]:
    """What --dry-run prints: the layout, the settings every container gets (names only), then
    node by node its roles, and each step's own settings and command. A step on several nodes
    (the workers) is one srun: its command is shown under its first node."""
    prefix = runtime.env_prefix
    envs = {launch.name: {k[len(prefix):]: v for k, v in runtime.env(launch).items()} for launch in launches}
    shared = {k: v for k, v in envs[launches[0].name].items()
              if k != "MSPASS_ROLE" and all(env.get(k) == v for env in envs.values())}
    ports = " ".join(f"{name}={shared[name]}" for name in DEFAULT_PORTS if name in shared)
    given = sorted(k for k, v in shared.items() if v and k not in DEFAULT_PORTS)
    emptied = sorted(k for k, v in shared.items() if not v)
    job = f"job {job_id}" if in_job else f"outside a job (ports as for job id {job_id})"
    lines = [f"# {PROG} run --dry-run: {job}, {len(nodes)} node(s): {' '.join(nodes)}; nothing is started",
             f"# layout: {layout_words(layout, nodes, notebook, part)}",
             f"# ports: {ports}",
             f"# every container gets, as {prefix}NAME, the ports above and: {' '.join(given)}"
             + (f"; emptied (the job script's own): {' '.join(emptied)}" if emptied else "")]
    if len(launches) > 1:
        frontend_last = ", the frontend once every other answers" if launches[-1].role == "frontend" else ""
        lines.append(f"# the steps start side by side{frontend_last}; the database stops last")
    lines += ["#", "# node: its roles; then each step's own settings, and its command"]
    described = dict(zip(nodes, describe(launches, nodes, layout)))
    for node in nodes:
        lines.append(described[node])
        for launch in launches:
            if node not in launch.nodes:
                continue
            if node != launch.nodes[0]:
                lines.append(f"#     {launch.name}: the step under {launch.nodes[0]} (one srun on "
                             f"{','.join(launch.nodes)})")
                continue
            own = {k: v for k, v in envs[launch.name].items() if k not in shared}
            order = sorted(own, key=lambda k: (k != "MSPASS_ROLE", k))
            lines.append(f"#     {launch.name}: " + " ".join(f"{k}={shown(k, own[k])}" for k in order))
            lines.append(shlex.join(runtime.argv(launch)) + ("" if launch.foreground else " &"))
        for name, tunnel_node, ssh in tunnels:
            if tunnel_node == node:
                lines.append(f"#     {name}: a tunnel to the login node (--tunnel reverse)")
                lines.append(shlex.join([*runtime.batch.step([node], core.step_name(name)), *ssh]) + " &")
    return lines


def job_nodes(args: argparse.Namespace, batch: Slurm, env: dict[str, str]) -> list[str]:
    """The job's nodes; a plan (--dry-run) may be made for nodes given by --nodelist, outside a job."""
    if args.nodelist:
        if not args.dry_run:
            raise HpcError("--nodelist is for --dry-run (a plan outside a job): a job runs on the nodes Slurm "
                           "gave it")
        return expand_hostlist(args.nodelist)
    if args.dry_run and not batch.in_job(env):
        raise HpcError("not inside a Slurm job: give the nodes to plan for, e.g. --dry-run --nodelist 'c[1-3]'")
    return batch.nodes(env)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = dict(os.environ)
    try:
        layout = layout_from(args, env)
        batch = batch_system(env)
        nodes = job_nodes(args, batch, env)
        job_id = batch.job_id(env)
        container = env.get("MSPASS_CONTAINER", "")
        if not container:
            raise HpcError("MSPASS_CONTAINER is not set; valid: the path of the MsPASS SIF (see mspass_setup.sh)")
        if args.dry_run:  # print what would run, even where no runtime is installed
            command = env.get("MSPASS_CONTAINER_RUNTIME") or "apptainer"
        else:
            command = find_runtime(env)
        if not args.dry_run and not Path(container).is_file():
            raise HpcError(f"MSPASS_CONTAINER={container!r}: no such file")
        launches = core.plan(layout, nodes, env, job_id, args.notebook, args.notebook_args, part=args.part)
        runtime = core.Runtime(batch, command, container, shlex.split(args.container_args))
        work_dir = core.job_work_dir(env)
        info = core.JobInfo(layout, launches, nodes, job_id, work_dir, env, batch.submit_host(env),
                            notebook=bool(args.notebook))
        tunnels = info.reverse_tunnels()  # its settings checked before anything starts
    except HpcError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return err.code
    if layout.sharded and layout.secure:
        print(f"{PROG}: note: the sharded database has no login in this version: other users of these nodes "
              "can reach it (dask keeps its TLS, the dashboard its loopback)", file=sys.stderr)
    if args.dry_run:
        print("\n".join(plan_lines(launches, nodes, layout, runtime, tunnels, job_id, args.notebook, args.part,
                                    in_job=batch.in_job(env))))
        return 0
    log_dir = Path(env.get("MSPASS_LOG_DIR") or work_dir / "logs")
    if args.part != "frontend":
        try:
            core.run_dir(env, job_id).mkdir(parents=True, exist_ok=True, mode=0o700)
            core.JobCredentials.for_job(layout, env, core.run_dir(env, job_id)).make()
        except HpcError as err:
            shutil.rmtree(core.run_dir(env, job_id), ignore_errors=True)
            print(f"{PROG}: {err}", file=sys.stderr)
            return err.code
    wait = float(env.get("MSPASS_WAIT_TIMEOUT") or 300)
    return core.run(info, runtime, log_dir, wait, part=args.part)
