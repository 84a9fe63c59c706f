"""`HPCClusterLauncher`: the Python class MsPASS's documents recommend for HPC (from
mspass-launcher), with the same constructor, configuration file and methods, run by this
package's launcher: `launch()` starts `mspass-hpc run --part services` (database, scheduler,
workers, under the supervisor, until `shutdown()`), `run(file)` and `interactive_session()`
run `mspass-hpc run --part frontend` against them. One plan, one supervisor, one job file.

Differences from mspass-launcher 0.1.1, each for a reason: `run` streams the notebook's output
as it comes and returns its exit code (0.1.1 prints it at the end and loses the code);
`interactive_session` prints how to reach Jupyter as soon as it answers; every role is
waited for until it answers (no fixed delays); workers start as steps of the job (srun), not
with mpiexec; keys this platform cannot honour give one warning each.
"""

from __future__ import annotations

import atexit
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..probes import RoleStateProbe
from ..supervisor import _die_with_parent
from . import core
from .cli import BATCH_SYSTEMS, batch_system
from .errors import HpcError
from .yamlfile import load

DEFAULT_FILE = "HPCClusterLauncher.yaml"
#: where a configuration file given by name is looked for (mspass-launcher's order), then
#: the same under $MSPASS_HOME, then this package's template
SEARCH = (".", "./data/yaml", "../data/yaml")
COMPONENTS = ("all", "db", "scheduler", "primary_worker", "remote_workers")
#: top-level keys: the variable of mspass_setup.sh each sets
DIRECTORIES = {"container": "MSPASS_CONTAINER", "working_directory": "MSPASS_WORK_DIR",
               "log_directory": "MSPASS_LOG_DIR", "database_directory": "MSPASS_DB_DIR",
               "worker_directory": "MSPASS_WORKER_DIR"}
#: keys that mean nothing here, and why
IGNORED = {
    "db_startup_delay": "not needed: every role is waited for until it answers (MSPASS_WAIT_TIMEOUT)",
    "container_env_flag": "not needed: settings reach the containers as APPTAINERENV_/SINGULARITYENV_ variables",
    "worker_run_command": "workers start as steps of the job (srun) on their nodes, not with mpiexec",
    "remote_worker_run_command": "workers start as steps of the job (srun) on their nodes",
    "mpi_implementation": "workers start as steps of the job (srun), not with MPI",
    "mpi_arg_list": "workers start as steps of the job (srun), not with MPI",
    "hostlist_filename": "the nodes come from the batch system (SLURM_JOB_NODELIST)",
}


def find_configuration(name: str) -> Path:
    given = Path(os.path.expanduser(name))
    if given.is_absolute() or given.is_file():
        if not given.is_file():
            raise FileNotFoundError(f"HPCClusterLauncher: configuration file {given}: no such file")
        return given
    places = [Path(d) for d in SEARCH]
    if os.environ.get("MSPASS_HOME"):
        places += [Path(os.path.expanduser(os.environ["MSPASS_HOME"])) / d for d in SEARCH]
    places.append(Path(__file__).parent)
    for place in places:
        if (place / name).is_file():
            return place / name
    raise FileNotFoundError(f"HPCClusterLauncher: no {name} in {', '.join(str(p) for p in places)}; copy "
                            f"{Path(__file__).parent / DEFAULT_FILE} to your work directory and edit it")


class HPCClusterLauncher:
    def __init__(self, configuration_file: str = DEFAULT_FILE, auto_launch: bool = True, verbose: bool = False):
        self.verbose = verbose
        self.services: subprocess.Popen | None = None
        self.path = find_configuration(configuration_file)
        if verbose:
            print(f"HPCClusterLauncher: configuration file {self.path}", flush=True)
        config = load(self.path.read_text(), str(self.path))
        self.env = dict(os.environ)
        self.batch = batch_system(self.env)
        self.args: list[str] = []
        self._configure(config)
        self.nodes = self.batch.nodes(self.env)  # HpcError (a ValueError's message) outside a job
        self.job_id = self.batch.job_id(self.env)
        self.work_dir = core.job_work_dir(self.env)
        self._place_hosts(config.get("HPC_cluster") or {})
        #: the first failed run's exit code: the script's, when it ends (see _at_exit)
        self.failed = 0
        atexit.register(self._at_exit)  # the course's scripts never call shutdown()
        if auto_launch:
            self.launch(verbose=verbose)

    # ------------------------------------------------------------------ configuration
    def _warn(self, key: str, why: str) -> None:
        print(f"HPCClusterLauncher: WARNING: {key} in {self.path.name} is ignored: {why}", file=sys.stderr, flush=True)

    def _configure(self, config: dict) -> None:
        cluster = config.get("HPC_cluster") or {}
        if not isinstance(cluster, dict):
            raise ValueError(f"HPCClusterLauncher: HPC_cluster in {self.path} is not a mapping of keys to values")
        for key, value in config.items():
            if key in DIRECTORIES:
                if value is not None:
                    self.env[DIRECTORIES[key]] = os.path.abspath(os.path.expandvars(os.path.expanduser(str(value))))
            elif key in ("workers_per_node", "primary_node_workers"):
                if value is not None:
                    self.args += ["--workers-per-node" if key == "workers_per_node" else "--primary-workers", str(value)]
            elif key == "cluster_subnet_name":
                if value:  # the login node's full name in the printed tunnel
                    self.env["HOSTNAME_BASE"] = str(value)
            elif key == "worker_memory_limit":
                if value:
                    self.env["MSPASS_WORKER_ARG"] = f"{self.env.get('MSPASS_WORKER_ARG', '')} --memory-limit {value}".strip()
            elif key in IGNORED:
                self._warn(key, IGNORED[key])
            elif key != "HPC_cluster":
                self._warn(key, "not a key of HPCClusterLauncher's configuration")
        scheduler = cluster.get("task_scheduler") or "dask"
        self.args += ["--scheduler", str(scheduler)]
        if scheduler == "dask" and "workers_per_node" in config:
            self.args += ["--threads-per-worker", "1"]  # mspass-launcher's workers: one thread per process
        for key, value in cluster.items():
            if key in ("primary_host", "database_host", "scheduler_host", "worker_hosts", "task_scheduler"):
                continue  # placed once the job's nodes are known
            if key == "job_scheduler":
                if str(value) not in BATCH_SYSTEMS:
                    raise ValueError(f"HPCClusterLauncher: job_scheduler={value!r}; valid: {', '.join(BATCH_SYSTEMS)}")
                self.batch = BATCH_SYSTEMS[str(value)]
            elif key == "container_run_command":
                words = str(value or "").split()
                if words:
                    self.env["MSPASS_CONTAINER_RUNTIME"] = words[0]
                if words[1:] != ["run"]:
                    self._warn(key, f"containers start with `RUNTIME run` (the image's entrypoint), not `{value}`")
            elif key == "container_run_args":
                if value:
                    self.args += ["--container-args", os.path.expandvars(str(value))]
            elif key == "setup_tunnel":
                self.tunnel_command = str(cluster.get("tunnel_setup_command") or "") if value else ""
            elif key == "tunnel_setup_command":
                continue  # with setup_tunnel
            elif key in IGNORED:
                self._warn(f"HPC_cluster.{key}", IGNORED[key])
            else:
                self._warn(f"HPC_cluster.{key}", "not a key of HPCClusterLauncher's configuration")

    def _index(self, key: str, host) -> int | None:
        if host in (None, "auto"):
            return None
        if str(host) not in self.nodes:
            raise ValueError(f"HPCClusterLauncher: {key}={host!r} is not a node of this job; valid: auto, "
                             f"{', '.join(self.nodes)}")
        return self.nodes.index(str(host))

    def _place_hosts(self, cluster: dict) -> None:
        self.primary = self._index("primary_host", cluster.get("primary_host")) or 0
        self.args += ["--primary", str(self.primary)]
        for key, option in (("scheduler_host", "--scheduler-node"), ("database_host", "--db-node")):
            index = self._index(key, cluster.get(key))
            if index is not None:
                self.args += [option, str(index)]
        workers = cluster.get("worker_hosts")
        if workers not in (None, "auto"):
            names = workers if isinstance(workers, list) else str(workers).replace(",", " ").split()
            self.args += ["--worker-nodes", ",".join(str(self._index("worker_hosts", n)) for n in names)]
        if getattr(self, "tunnel_command", ""):
            # the site's script, with the primary node's name last (mspass-launcher's convention)
            subprocess.run([*shlex.split(self.tunnel_command), self.nodes[self.primary]], check=True)

    # ------------------------------------------------------------------ the cluster
    def _command(self, part: str, *more: str) -> list[str]:
        return [sys.executable, "-m", "mspass_roles.hpc", "run", "--part", part, *self.args, *more]

    def _child_env(self) -> dict[str, str]:
        # the children import this package from wherever this process did
        here = str(Path(__file__).resolve().parents[2])
        return {**self.env, "PYTHONPATH": os.pathsep.join(p for p in (here, self.env.get("PYTHONPATH")) if p)}

    def launch(self, verbose: bool = False) -> None:
        """Start the database, the scheduler and the workers; return once every one answers.
        RuntimeError when they cannot start (their output above says why)."""
        if self.services is not None and self.services.poll() is None:
            return
        if verbose or self.verbose:
            subprocess.run(self._command("services", "--dry-run"), env=self._child_env(), cwd=self.work_dir)
        self.services = subprocess.Popen(self._command("services"), env=self._child_env(), cwd=self.work_dir,
                                         preexec_fn=_die_with_parent)
        deadline = time.monotonic() + float(self.env.get("MSPASS_WAIT_TIMEOUT") or 300) + 60
        while not self._ready():
            code = self.services.poll()
            if code is not None:
                raise RuntimeError(f"HPCClusterLauncher: the cluster did not start (exit code {code}); its "
                                   f"output above says why, the roles' logs are in {self.env.get('MSPASS_LOG_DIR') or self.work_dir / 'logs'}")
            if time.monotonic() > deadline:
                self.shutdown()
                raise RuntimeError("HPCClusterLauncher: the cluster was not ready in time")
            time.sleep(0.5)

    def _ready(self) -> bool:
        """The services' supervisor (on this node) says in its state file that all are ready."""
        return self._role_ready(core.LAUNCHER_ROLE, [socket.gethostname()])

    def _role_ready(self, role: str, nodes: list[str]) -> bool:
        run_dir = str(core.run_dir(self.env, self.job_id))
        return all(RoleStateProbe(run_dir, role, node=node).check() is None for node in nodes)

    def status(self, container: str = "all", verbose: bool = True) -> int:
        """1 when the component(s) run and answer, 0 when one does not (or is not in this layout)."""
        if container not in COMPONENTS:
            raise ValueError(f"HPCClusterLauncher.status: component={container!r}; valid: {', '.join(COMPONENTS)}")
        roles = {launch.name: launch for launch in self._launches()}
        steps = {"db": "db", "scheduler": "scheduler", "primary_worker": "worker-primary", "remote_workers": "worker"}
        wanted = [steps[container]] if container != "all" else [s for s in steps.values() if s in roles]
        alive = self.services is not None and self.services.poll() is None
        result = 1
        for name in wanted:
            launch = roles.get(name)
            ok = alive and launch is not None and self._role_ready(launch.role, launch.nodes)
            if verbose:
                print(f"{name}: {'running' if ok else 'not in this layout' if launch is None else 'NOT running'}")
            result &= int(ok)
        return result

    def _launches(self) -> list[core.Launch]:
        from .cli import layout_from, parser

        args = parser().parse_args(["run", "--part", "services", *self.args])
        try:
            return core.plan(layout_from(args, self.env), self.nodes, self.env, self.job_id, None, part="services")
        except HpcError:
            return []

    def run(self, pyscript: str) -> int:
        """Run a notebook or Python script (papermill for .ipynb) in the frontend container on
        the primary node, against this cluster; its output comes as it runs. Returns its exit
        code; a failure also becomes the exit code of this Python process when it ends, so that
        the batch job fails with the notebook even when the script ignores what run() returns."""
        self.launch()
        code = subprocess.run(self._command("frontend", pyscript), env=self._child_env(), cwd=self.work_dir).returncode
        self.failed = self.failed or code
        return code

    def interactive_session(self) -> int:
        """Jupyter in the frontend container; how to reach it is printed once it answers.
        Blocks until Jupyter ends (scancel, or the job's end)."""
        self.launch()
        return subprocess.run(self._command("frontend"), env=self._child_env(), cwd=self.work_dir).returncode

    def shutdown(self) -> None:
        """Stop every container, the database last (cleanly: its files are complete)."""
        services, self.services = getattr(self, "services", None), None
        if services is None or services.poll() is not None:
            return
        services.send_signal(signal.SIGTERM)
        try:
            services.wait(timeout=core.STOP_GRACE + 30)
        except subprocess.TimeoutExpired:
            print("HPCClusterLauncher: the cluster did not stop in time: killing it", file=sys.stderr)
            services.kill()
            services.wait()

    def _at_exit(self) -> None:
        self.shutdown()
        if self.failed:
            # the job's exit code is the failed notebook's, as with `mspass-hpc run NOTEBOOK`;
            # os._exit: an exit handler cannot change the code otherwise
            print(f"HPCClusterLauncher: a run failed with exit code {self.failed}: exiting with it", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(self.failed)

    def __del__(self) -> None:
        self.shutdown()
