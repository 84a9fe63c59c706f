#!/bin/bash
# MsPASS on one node: the all-in-one container (database, scheduler, a worker and the
# frontend) of $MSPASS_CONTAINER. Use it as MSPASS_RUNSCRIPT with `#SBATCH --nodes=1`.
#     single_node.sh [NOTEBOOK [papermill options]]
set -euo pipefail
MSPASS_LAUNCHER_EXTRA="--all-in-one" exec "$(dirname "${BASH_SOURCE[0]}")/run_mspass.sh" "$@"
