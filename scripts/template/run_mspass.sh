#!/bin/bash
# The MsPASS virtual cluster of one Slurm job (called by job_script.sh through
# MSPASS_RUNSCRIPT): database, scheduler and frontend on the first node, one worker
# container per other node (srun), each role a container of $MSPASS_CONTAINER. Runs
# NOTEBOOK in batch mode and ends with it; without NOTEBOOK, runs Jupyter until the job
# ends. Every role is checked ready before the notebook starts; on the end of the
# notebook, scancel or the walltime signal, every role stops, the database last. The job's
# output says how to reach Jupyter and the dashboard (an ssh tunnel).
#     run_mspass.sh [NOTEBOOK [papermill options]]        (options: run_mspass.sh --help)
# Other layouts (a dedicated scheduler node, worker processes per node, threads) and the
# reverse tunnel: MSPASS_HPC_ARGS in mspass_setup.sh, see --help.
# The launcher is mspass_roles.hpc, pure Python (3.9 or newer, standard library only), from
# this checkout, or from $MSPASS_HOME (the checkout, MsPASS's guide's ~/mspass) when this
# script is a copy elsewhere.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for top in "$here/../.." "${MSPASS_HOME:-}"; do
    if [ -n "$top" ] && [ -f "$top/mspass_roles/hpc/__init__.py" ]; then
        export PYTHONPATH="$(cd "$top" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
        break
    fi
done
python=${MSPASS_PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    echo "run_mspass.sh: the launcher needs Python >= 3.9 on the node ($python is older or missing):" \
        "load a newer python module or set MSPASS_PYTHON" >&2
    exit 2
fi
if ! "$python" -c 'import mspass_roles.hpc' 2>/dev/null; then
    echo "run_mspass.sh: cannot find the launcher (mspass_roles): keep this script in the checkout's" \
        "scripts/template/, or set MSPASS_HOME to the checkout (MSPASS_HOME=${MSPASS_HOME:-unset})" >&2
    exit 2
fi
if [ "${1:-}" = "--help" ]; then exec "$python" -m mspass_roles.hpc run --help; fi
# shellcheck disable=SC2086 # MSPASS_HPC_ARGS is a list of options
exec "$python" -m mspass_roles.hpc run ${MSPASS_HPC_ARGS:-} ${MSPASS_LAUNCHER_EXTRA:-} "$@"
