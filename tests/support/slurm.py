"""An emulated Slurm cluster in docker containers, for the HPC test tier (`make test-hpc`).

`SlurmCluster` starts one controller (host name `ctl`) and N compute nodes (`c1`..`cN`) from
the image `mspass-slurm:sid` (scripts/test-images/slurm.Dockerfile) on a private docker network, with one
host directory mounted at /shared in every container as the cluster's file system. It writes
one munge key and one slurm.conf into every container, starts munged and the Slurm daemons,
and waits until `sinfo` shows every node idle. `stop()` removes everything it created.

Like on a real cluster, `ctl` doubles as the login node: every container runs sshd with host
keys made at start, user mspass has one key pair per cluster (authorized in every container),
and every container knows every other's host keys, so `ssh c1`, `ssh -J ctl c2` and -L/-R
forwards work without prompts. Bullseye's Python 3.9 is at PY39_BIN/python3 (put that first
on PATH, as `module load python3/3.9.2` would); `python3` stays sid's.

    with SlurmCluster(docker.from_env(), binds={"/path/to/build": "/sif"}) as cluster:
        job = cluster.sbatch("/shared/job.sh")
        state, exit_code = cluster.wait_job(job, timeout=60)

No --privileged (this host refuses it): daemons run as root inside unprivileged containers,
jobs run as user mspass (uid 1000, in the image). Every object is labelled
io.mspass.test=hpc; leftovers of a killed run can be removed with
`docker rm -f $(docker ps -aq -f label=io.mspass.test=hpc)` and `docker network prune`.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shlex
import shutil
import tarfile
import tempfile
import uuid
from pathlib import Path

from tests.support.wait import wait_until

IMAGE = os.environ.get("SLURM_IMAGE", "mspass-slurm:sid")
LABEL = "io.mspass.test"
CONTROLLER = "ctl"
LOG_DIR = "/var/log/slurm"
USER_UID, USER_HOME = 1000, "/home/mspass"  # user mspass (made in the image): jobs, ssh
PY39_BIN = "/opt/python3.9/bin"  # links to bullseye's python3.9 (slurm.Dockerfile)
# states after which a job no longer changes (scontrol's JobState)
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                "PREEMPTED", "BOOT_FAIL", "DEADLINE"}

# Why these settings (Slurm 26.05 from Debian sid, in containers without privileges, on a
# host whose docker uses cgroup v1; found by trying):
# - SlurmUser=root: the daemons run as root in the container (simplest: state and log dirs
#   need no ownership set-up; slurmd must be root anyway to start steps as the job's user).
# - ProctrackType=proctrack/linuxproc: with proctrack/cgroup slurmd does not start ("unable
#   to create cgroup '/sys/fs/cgroup/freezer/slurm_c1': Read-only file system").
#   linuxproc tracks a job's processes by parent PID, enough for scancel to kill them.
#   TaskPlugin=task/none, JobAcctGatherType=none, no accounting: no CPU binding, limits or
#   usage records wanted, and nothing else that touches cgroups.
# - cgroup.conf CgroupPlugin=disabled: without it slurmd 26.05 still loads a cgroup plugin
#   at start (here the deprecated cgroup/v1, logging "Cannot find slurmd cpu cgroup"
#   errors); disabled keeps the nodes independent of the host's cgroup version.
# - SlurmdParameters=config_overrides: nodes declare CPUs=2 and a small RealMemory whatever
#   the host has (every container sees all host CPUs and memory).
# - SelectTypeParameters=CR_CPU: schedule CPUs only; with the default CR_Core_Memory and no
#   DefMemPerCPU, a job without --mem takes a whole node's memory and blocks other jobs there.
# - SchedulerParameters=batch_sched_delay=0: start a batch job when it is submitted; with
#   the default (batch scheduling may be delayed up to 3 s) each test job waited 2-3 s.
# - ReturnToService=2: a node that was DOWN comes back when its slurmd registers again.
# - KillWait=10: scancel waits 10 s at most between SIGTERM and SIGKILL (default 30 s).
# - MailProg=/bin/true: no mail program in the image.
SLURM_CONF = """\
ClusterName=mspass-test
SlurmctldHost={controller}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile={log_dir}/slurmctld.log
SlurmdLogFile={log_dir}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
ReturnToService=2
KillWait=10
MailProg=/bin/true
NodeName={nodes} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=UNLIMITED State=UP
"""
CGROUP_CONF = "CgroupPlugin=disabled\n"
# ssh inside the cluster never prompts: every container's host keys are in
# /etc/ssh/ssh_known_hosts (its own also as localhost in ssh_known_hosts2), any other name (an
# address) is accepted on first use, and BatchMode makes a failing authentication an error
# instead of a password prompt. AddressFamily inet: docker gives the containers no ::1, so a
# forward from `localhost` would also try [::1] and print "Cannot assign requested address".
SSH_CONFIG = """\
# written by tests/support/slurm.py
Host *
    StrictHostKeyChecking accept-new
    BatchMode yes
    AddressFamily inet
"""


class SlurmError(RuntimeError):
    pass


class SlurmCluster:
    def __init__(self, client, *, nodes: int = 3, image: str = IMAGE, shared: str | Path | None = None,
                 binds: dict[str, str] | None = None, cpus: int = 2, memory_mb: int = 1000,
                 start_timeout: float = 60):
        """`shared`: host directory mounted at /shared (made world-writable and sticky);
        a temporary one (removed by stop()) when None. `binds`: more read-only mounts,
        host path -> container path, e.g. {"/repo/build": "/sif", "/repo": "/opt/mspass"}."""
        self.client = client
        self.image = image
        self.node_names = [f"c{i}" for i in range(1, nodes + 1)]
        self.names = [CONTROLLER, *self.node_names]
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.start_timeout = start_timeout
        self.run_id = uuid.uuid4().hex[:8]
        self._own_shared = shared is None
        self.shared = Path(shared) if shared is not None else Path(tempfile.mkdtemp(prefix="mspass-hpc-"))
        self.binds = dict(binds or {})
        self.containers: dict[str, object] = {}
        self.network = None

    # ---------------------------------------------------------------- life cycle
    def __enter__(self) -> "SlurmCluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.shared.chmod(0o1777)  # every user writes there, like a cluster's scratch space
        self.network = self.client.networks.create(f"mspass-hpc-{self.run_id}", labels={LABEL: "hpc"})
        for name in self.names:
            self._create(name)
        key = secrets.token_bytes(1024)  # one munge key for the whole cluster
        conf = SLURM_CONF.format(controller=CONTROLLER, log_dir=LOG_DIR, nodes=",".join(self.node_names),
                                 cpus=self.cpus, memory=self.memory_mb)
        private, public = self._user_key()
        ssh_dir = f"{USER_HOME}/.ssh"
        files = {"/etc/munge/munge.key": (key, 0o400, 0),
                 "/etc/slurm/slurm.conf": (conf.encode(), 0o644, 0),
                 "/etc/slurm/cgroup.conf": (CGROUP_CONF.encode(), 0o644, 0),
                 ssh_dir: (None, 0o700, USER_UID),
                 f"{ssh_dir}/id_ed25519": (private, 0o600, USER_UID),
                 f"{ssh_dir}/id_ed25519.pub": (public, 0o644, USER_UID),
                 f"{ssh_dir}/authorized_keys": (public, 0o600, USER_UID)}
        host_keys: dict[str, list[str]] = {}
        for name in self.names:
            self._put(name, files)
            self._root(name, "chown munge:munge /etc/munge/munge.key"
                             " && chmod 666 /dev/fuse"  # FUSE for Apptainer as uid 1000
                             f" && install -o munge -g munge -m 600 /dev/null {LOG_DIR}/munged.log"
                             f" && runuser -u munge -- munged --force --log-file={LOG_DIR}/munged.log")
            host_keys[name] = self._start_sshd(name)
        known_hosts = "".join(f"{name},{self.containers[name].name} {key}\n"
                              for name, keys in host_keys.items() for key in keys).encode()
        for name in self.names:
            own = "".join(f"localhost,127.0.0.1,::1 {key}\n" for key in host_keys[name]).encode()
            self._put(name, {"/etc/ssh/ssh_known_hosts": (known_hosts, 0o644, 0),
                             "/etc/ssh/ssh_known_hosts2": (own, 0o644, 0),
                             "/etc/ssh/ssh_config.d/50-mspass-test.conf": (SSH_CONFIG.encode(), 0o644, 0)})
        # slurmctld first, so that the nodes register at once instead of retrying. (munged.log
        # gets one "Unauthorized credential for client UID=0" as each Slurm daemon starts:
        # expected, nothing fails.)
        self._root(CONTROLLER, "slurmctld")
        for name in self.node_names:
            self._root(name, "slurmd")
        self.wait_idle(self.start_timeout)

    def stop(self) -> None:
        """Remove every container, the network and a temporary /shared; never raises."""
        import docker.errors

        for container in self.containers.values():
            try:
                container.remove(force=True, v=True)
            except docker.errors.APIError:
                pass
        self.containers = {}
        if self.network is not None:
            try:
                self.network.remove()
            except docker.errors.APIError:
                pass
            self.network = None
        if self._own_shared:
            shutil.rmtree(self.shared, ignore_errors=True)

    def _create(self, name: str):
        """One node: host name = network alias = Slurm NodeName. Every container can run
        Apptainer without --privileged (this host refuses it): /dev/fuse, no seccomp filter,
        and no masked or read-only /proc and /sys paths (what the docker CLI's
        `--security-opt systempaths=unconfined` sets; the SDK takes it only through the
        low-level API). init=True: docker's tini as PID 1 reaps the daemons' orphans."""
        api = self.client.api
        binds = {str(self.shared): {"bind": "/shared", "mode": "rw"}}
        binds.update({str(host): {"bind": path, "mode": "ro"} for host, path in self.binds.items()})
        host_config = api.create_host_config(binds=binds, devices=["/dev/fuse"], security_opt=["seccomp=unconfined"],
                                             init=True)
        host_config.update({"MaskedPaths": [], "ReadonlyPaths": []})
        networking = api.create_networking_config(
            {self.network.name: api.create_endpoint_config(aliases=[name])})
        created = api.create_container(self.image, ["sleep", "infinity"], name=f"{name}-{self.run_id}",
                                       hostname=name, labels={LABEL: "hpc"},
                                       volumes=[b["bind"] for b in binds.values()],
                                       host_config=host_config, networking_config=networking)
        container = self.client.containers.get(created["Id"])
        self.containers[name] = container  # tracked before start, so stop() removes it
        container.start()
        return container

    def _user_key(self) -> tuple[bytes, bytes]:
        """One ssh key pair of user mspass for the whole cluster, (private, public): made at
        run time (in ctl, which has ssh-keygen), as no image may carry a key."""
        end = "-----END OPENSSH PRIVATE KEY-----\n"
        out = self._root(CONTROLLER, 'd=$(mktemp -d) && ssh-keygen -q -t ed25519 -N "" -C mspass@mspass-test'
                                     ' -f "$d/key" && cat "$d/key" "$d/key.pub"; rm -rf "$d"')
        private, found, public = out.partition(end)
        if not found or not public.startswith("ssh-ed25519 "):
            raise SlurmError(f"ssh-keygen in {CONTROLLER} wrote no key pair:\n{out}")
        return (private + end).encode(), public.encode()

    def _start_sshd(self, name: str) -> list[str]:
        """Host keys and sshd in one container; its public host keys ("TYPE KEY" lines, for
        known_hosts)."""
        # sshd logs to LOG_DIR, so that logs() shows it
        out = self._root(name, "ssh-keygen -A >/dev/null && mkdir -p /run/sshd"
                               f" && /usr/sbin/sshd -E {LOG_DIR}/sshd.log && cat /etc/ssh/ssh_host_*_key.pub")
        return [" ".join(line.split()[:2]) for line in out.splitlines() if line.strip()]

    def _put(self, name: str, files: dict[str, tuple[bytes | None, int, int]]) -> None:
        """Write files in one archive (one API call: each costs ~50 ms): absolute path ->
        (content, mode, uid = gid); content None makes a directory, listed before its files."""
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for path, (data, mode, owner) in files.items():
                info = tarfile.TarInfo(path.lstrip("/"))
                info.mode, info.uid, info.gid = mode, owner, owner
                if data is None:
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        if not self.containers[name].put_archive("/", archive.getvalue()):
            raise SlurmError(f"cannot write {', '.join(files)} in {name}")

    def _root(self, name: str, script: str) -> str:
        code, out = self.exec(name, script, user="root")
        if code != 0:
            raise SlurmError(f"{name}: `{script}` exited {code}:\n{out}\n{self.logs()}")
        return out

    # ---------------------------------------------------------------- waiting
    def node_states(self) -> dict[str, str]:
        code, out = self.exec(CONTROLLER, ["sinfo", "--noheader", "--Node", "--format=%N %t"], user="root")
        if code != 0:
            return {}
        return dict(line.split() for line in out.splitlines() if len(line.split()) == 2)

    def wait_idle(self, timeout: float) -> None:
        """Until sinfo shows every node idle; on timeout raise with the daemons' logs."""
        states: dict[str, str] = {}

        def idle() -> bool:
            states.update(self.node_states())
            return all(states.get(n) == "idle" for n in self.node_names)

        wait_until(idle, timeout, "every node idle", details=lambda: f"{states}\n{self.logs()}", error=SlurmError)

    # ---------------------------------------------------------------- using
    def exec(self, node: str, cmd, user: str = "mspass", env: dict | None = None,
             workdir: str | None = None) -> tuple[int, str]:
        """Run cmd (argv list, or a string for bash -c) in `node`; (exit code, stdout+stderr)."""
        argv = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        # docker exec sets HOME but not USER/LOGNAME, which a login shell (and so a job that
        # Slurm starts from it) would have
        environment = {"USER": user, "LOGNAME": user, **(env or {})}
        result = self.containers[node].exec_run(argv, user=user, environment=environment, workdir=workdir)
        return result.exit_code, result.output.decode(errors="replace")

    def sbatch(self, script: str, *args: str, options: list[str] | tuple[str, ...] = (), user: str = "mspass",
               workdir: str = "/shared", env: dict[str, str] | None = None) -> int:
        """Submit a batch script (a path the controller sees, e.g. under /shared) with its
        arguments `args`, as `user`; `options` go to sbatch (e.g. ["--nodes=2"]); `env` is the
        submitting shell's, which the job inherits (`VAR=... sbatch`). Its job id. (Not
        `--export=ALL,VAR=...`: with it, slurmd here dies with "clone: Operation not permitted".)"""
        argv = ["sbatch", "--parsable", *options, script, *args]
        code, out = self.exec(CONTROLLER, argv, user=user, workdir=workdir, env=env)
        match = re.match(r"\s*(\d+)", out)
        if code != 0 or not match:
            raise SlurmError(f"{shlex.join(argv)} exited {code}:\n{out}")
        return int(match.group(1))

    def job_info(self, job_id: int) -> dict[str, str]:
        """scontrol's fields of a job (JobState, ExitCode, NodeList, ...); {} when unknown."""
        code, out = self.exec(CONTROLLER, ["scontrol", "--oneliner", "show", "job", str(job_id)], user="root")
        if code != 0:
            return {}
        return dict(re.findall(r"(\w+)=(\S*)", out))

    def wait_job(self, job_id: int, timeout: float) -> tuple[str, str]:
        """Until the job ends: (JobState, ExitCode), e.g. ("FAILED", "3:0"). No accounting
        here, so no sacct: scontrol knows finished jobs for MinJobAge (300 s)."""
        info: dict[str, str] = {}

        def ended() -> bool:
            info.clear()
            info.update(self.job_info(job_id))
            return info.get("JobState") in FINAL_STATES

        wait_until(ended, timeout, f"job {job_id} finished", interval=0.3,
                   details=lambda: f"{info}\n{self.logs()}", error=SlurmError)
        return info["JobState"], info.get("ExitCode", "")

    def squeue(self) -> list[int]:
        """Ids of all jobs the controller still lists as pending or running."""
        code, out = self.exec(CONTROLLER, ["squeue", "--noheader", "--format=%i"], user="root")
        if code != 0:
            raise SlurmError(f"squeue exited {code}:\n{out}")
        return [int(line) for line in out.split()]

    def scancel(self, job_id: int, user: str = "mspass") -> None:
        code, out = self.exec(CONTROLLER, ["scancel", str(job_id)], user=user)
        if code != 0:
            raise SlurmError(f"scancel {job_id} exited {code}:\n{out}")

    def logs(self, lines: int = 100) -> str:
        """The last `lines` of every daemon log (munged, slurmctld, slurmd, sshd) of every
        container, for failure reports."""
        parts = []
        for name, container in self.containers.items():
            try:
                result = container.exec_run(["bash", "-c", f"tail -n {lines} {LOG_DIR}/*.log"], user="root")
                text = result.output.decode(errors="replace")
            except Exception as err:  # the container is gone or stopped
                text = f"(no logs: {err})"
            parts.append(f"===== {name} =====\n{text}")
        return "\n".join(parts)
