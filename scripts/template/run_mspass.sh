#!/bin/bash
# The MsPASS virtual cluster of one Slurm job (called by job_script.sh through
# MSPASS_RUNSCRIPT): scheduler, database and frontend on the first node, one worker
# container per other node (srun), each role a container of $MSPASS_CONTAINER. Runs
# NOTEBOOK in batch mode and ends with it; without NOTEBOOK, runs Jupyter until the job
# ends. Every role is checked ready before the notebook starts; on the end of the
# notebook, scancel or the walltime signal, every role stops, the database last.
#     run_mspass.sh [NOTEBOOK [papermill options]]        (options: run_mspass.sh --help)
# The launcher is mspass_roles.hpc, pure Python (standard library), from this checkout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PYTHONPATH="$here/../..${PYTHONPATH:+:$PYTHONPATH}"
python=${MSPASS_PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "run_mspass.sh: the launcher needs Python >= 3.10 on the node ($python is older or missing):" \
        "load a newer python module or set MSPASS_PYTHON" >&2
    exit 2
fi
if [ "${1:-}" = "--help" ]; then exec "$python" -m mspass_roles.hpc run --help; fi
# shellcheck disable=SC2086 # MSPASS_HPC_ARGS is a list of options
exec "$python" -m mspass_roles.hpc run ${MSPASS_HPC_ARGS:-} ${MSPASS_LAUNCHER_EXTRA:-} "$@"
