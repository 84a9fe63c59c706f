#!/bin/bash
# Run a MsPASS notebook on a Slurm cluster:
#     sbatch job_script.sh workflow.ipynb [-p NAME VALUE ...]
# The first node runs the scheduler, the database and the notebook; the other nodes run
# workers. The job ends when the notebook ends, and fails when it fails; the executed
# notebook is saved as logs/workflow.executed.ipynb. The job's output (mspass_<jobid>.out)
# says how to reach the dask dashboard while it runs; without a notebook, Jupyter runs
# until the job ends and the output says how to reach it.
# Edit the #SBATCH lines marked EDIT for your cluster and job.
#SBATCH --job-name=mspass
#SBATCH --ntasks-per-node=1
#SBATCH --output=mspass_%j.out
# EDIT: nodes (at least 2: one for services, the rest for workers), and walltime
#SBATCH --nodes=3
#SBATCH --time=01:00:00
# SIGTERM two minutes before walltime, so the database stops cleanly:
#SBATCH --signal=B:TERM@120
# EDIT (if your cluster needs them): remove one '#' to enable
##SBATCH --partition=normal
##SBATCH --account=myproject

set -eo pipefail
# mspass_setup.sh lives where you submit from (sbatch runs a copy of this script, so its
# own location says nothing); -u after it: MsPASS's guide's tests an unset variable
source "${SLURM_SUBMIT_DIR:-.}/mspass_setup.sh"
set -u
cd "$MSPASS_WORK_DIR"
exec "$MSPASS_RUNSCRIPT" "$@"
