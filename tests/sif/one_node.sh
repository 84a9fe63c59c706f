#!/bin/bash
# Roles of a virtual cluster as separate `apptainer run`s on one node, configured only
# through SINGULARITYENV_* / APPTAINERENV_* variables, all sharing this node's network
# namespace on non-default ports. The frontend runs a notebook; its exit code is ours.
#   one_node.sh SIF WORKDIR NOTEBOOK [PAPERMILL OPTIONS...]
set -u
sif=$1
cd "$2" || exit 2
shift 2
export SINGULARITYENV_MSPASS_WORK_DIR=$PWD
export SINGULARITYENV_MONGODB_PORT=27100 SINGULARITYENV_DASK_SCHEDULER_PORT=8900
export SINGULARITYENV_DASK_DASHBOARD_PORT=8901 SINGULARITYENV_JUPYTER_PORT=8902
run() { apptainer run --no-eval "$sif" "$@"; }

pids=()
SINGULARITYENV_MSPASS_ROLE=db run >db.out 2>&1 &
pids+=($!)
APPTAINERENV_MSPASS_ROLE=scheduler run >scheduler.out 2>&1 &
pids+=($!)
for w in worker1 worker2; do
    SINGULARITYENV_MSPASS_ROLE=worker SINGULARITYENV_MSPASS_NODE_NAME=$w \
        SINGULARITYENV_MSPASS_SCHEDULER_ADDRESS=127.0.0.1 run >"$w.out" 2>&1 &
    pids+=($!)
done
SINGULARITYENV_MSPASS_ROLE=frontend SINGULARITYENV_MSPASS_DB_ADDRESS=127.0.0.1 \
    SINGULARITYENV_MSPASS_SCHEDULER_ADDRESS=127.0.0.1 \
    run --batch "$@"
code=$?
kill -TERM "${pids[@]}"
wait
exit $code
