"""`mspass-hpc` and `HPCClusterLauncher`: a MsPASS virtual cluster on the nodes of a batch job.

Run from a job script (scripts/template/run_mspass.sh) on the job's first node, with the
host's python3 (3.9 or newer, standard library only). It reads the allocation, assigns roles
to nodes from a small layout, starts one container per role per node as steps of the job
(`srun` and Apptainer/Singularity), writes the job file (addresses, tunnels, state) to the
work dir, waits until every role answers, runs the notebook (or Jupyter), and stops
everything, the database last, when the notebook ends or the job is signalled (scancel, or
`#SBATCH --signal` before walltime). `--dry-run` prints the layout and the exact commands.

Modules: core (layout, plan, job file, run), access (tunnels), slurm (the batch system),
cli (`mspass-hpc`), launcher (`HPCClusterLauncher`, MsPASS's documented Python API).
"""

from .cli import main
from .launcher import HPCClusterLauncher

__all__ = ["main", "HPCClusterLauncher"]
