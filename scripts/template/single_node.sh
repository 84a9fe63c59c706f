#!/bin/bash
# MsPASS on one node: the all-in-one container (database, scheduler, a worker and the
# frontend) of $MSPASS_CONTAINER. MsPASS's guide runs it two ways, and both work:
#     sbatch single_node.sh [NOTEBOOK [papermill options]]   (the job's output says how to
#                                                             reach Jupyter without NOTEBOOK)
#     source single_node.sh [NOTEBOOK ...]                   (in an interactive allocation:
#                                                             salloc, or a gateway's terminal)
# Sourced, it runs as a child: your shell keeps its options and goes on when MsPASS ends
# (Ctrl-C stops Jupyter). It reads mspass_setup.sh from the directory you submit or source
# from (Slurm runs a spooled copy of this script, so its own location says nothing).
#SBATCH --job-name=mspass
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --output=mspass_%j.out
# EDIT: walltime; SIGTERM two minutes before it, so the database stops cleanly
#SBATCH --time=01:00:00
#SBATCH --signal=B:TERM@120
# EDIT (if your cluster needs them): remove one '#' to enable
##SBATCH --partition=normal
##SBATCH --account=myproject
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # sourced: run as a child, so your shell keeps its options, and with the setup from here
    SLURM_SUBMIT_DIR=$PWD bash "${BASH_SOURCE[0]}" "$@"
    return
fi
set -eo pipefail
source "${SLURM_SUBMIT_DIR:-$PWD}/mspass_setup.sh"  # -u after it: MsPASS's guide's tests an unset variable
set -u
: "${MSPASS_HOME:?is not set: mspass_setup.sh sets it to the checkout (with scripts/template/run_mspass.sh)}"
cd "$MSPASS_WORK_DIR"
# exec: the walltime signal (--signal=B:...) reaches the launcher, which stops the database cleanly
MSPASS_LAUNCHER_EXTRA="--all-in-one" exec "$MSPASS_HOME/scripts/template/run_mspass.sh" "$@"
