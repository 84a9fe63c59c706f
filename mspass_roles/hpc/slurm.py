"""Slurm, the batch system of `mspass-hpc`: what the launcher asks of a batch system, in one
place (the job's nodes and id, where it was submitted from, how to start one task per node).
Another batch system (PBS, LSF) is one more module like this one and one entry in
`BATCH_SYSTEMS` (mspass_roles/hpc/__init__.py)."""

from __future__ import annotations

import re
import subprocess

from .errors import HpcError


class Slurm:
    name = "slurm"
    #: what a job script of this batch system may set that a role container must not get
    HOST_VARIABLES = re.compile(r"^SLURM_")

    def in_job(self, env: dict[str, str]) -> bool:
        return bool(env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST"))

    def nodes(self, env: dict[str, str]) -> list[str]:
        text = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
        if not text:
            raise HpcError("not inside a Slurm job: SLURM_JOB_NODELIST is not set (submit with sbatch, or use "
                           "salloc)")
        return expand_hostlist(text)

    def job_id(self, env: dict[str, str]) -> str:
        return env.get("SLURM_JOB_ID", "0")

    def submit_host(self, env: dict[str, str]) -> str:
        """The login node the job came from: where a user's ssh tunnel goes through."""
        return env.get("SLURM_SUBMIT_HOST", "")

    def step(self, nodes: list[str], name: str) -> list[str]:
        """One task on each of `nodes`, as a step of this job named `name` (unique in the job);
        --overlap lets steps share nodes."""
        return ["srun", f"--nodes={len(nodes)}", f"--ntasks={len(nodes)}", "--ntasks-per-node=1",
                f"--nodelist={','.join(nodes)}", "--overlap", f"--job-name={name}"]

    def job_ending(self, env: dict[str, str]) -> bool:
        """Whether Slurm is ending the job itself (scancel, walltime): it then signals every
        step, and a new step (to stop one) would only wait."""
        state = subprocess.run(["squeue", "--noheader", f"--jobs={self.job_id(env)}", "--format=%T"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return state != "RUNNING"  # also when squeue no longer knows it: it has ended

    def stop_step(self, env: dict[str, str], name: str) -> None:
        """SIGTERM to the tasks of this job's step `name`, through Slurm: srun itself turns a
        SIGTERM into SIGKILL for its tasks ("forcing job termination"), which would kill a
        database without its shutdown."""
        job = self.job_id(env)
        found = subprocess.run(["squeue", "--noheader", "--steps", f"--jobs={job}", "--format=%i %j"],
                               capture_output=True, text=True, timeout=30, check=True).stdout
        for line in found.splitlines():
            step, _, step_name = line.strip().partition(" ")
            if step_name.strip() == name:
                subprocess.run(["scancel", "--signal=TERM", step], capture_output=True, timeout=30, check=True)


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
