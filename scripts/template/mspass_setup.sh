#!/bin/bash
# MsPASS job settings, sourced by job_script.sh. Make a private copy next to your
# notebooks and edit the lines marked EDIT; nothing else needs changing.

# EDIT: the MsPASS SIF (`make sif` builds build/mspass_latest.sif; copy it to the cluster)
export MSPASS_CONTAINER=$HOME/mspass/mspass_latest.sif # EDIT

# EDIT: the script that starts the virtual cluster: run_mspass.sh (roles on several nodes),
# single_node.sh (everything on one node) or run_mspass_sharded.sh (sharded MongoDB: a
# shard on every node but the first), from this checkout's scripts/template/.
# Keep it in the checkout: it finds the launcher (mspass_roles) relative to itself.
export MSPASS_RUNSCRIPT=$HOME/mspass/scripts/template/run_mspass.sh # EDIT

# EDIT: file systems the containers must see (data, work and scratch areas), comma-separated.
# Your home directory and the current directory are bound anyway.
export APPTAINER_BIND=/scratch # EDIT
export SINGULARITY_BIND=$APPTAINER_BIND # the same for Singularity

# The run directory (your notebooks) and where the database, logs and worker scratch go.
# Defaults: the directory you submit from, and db/, logs/, work/ under it.
export MSPASS_WORK_DIR=${SLURM_SUBMIT_DIR:-$PWD}
export MSPASS_DB_DIR=$MSPASS_WORK_DIR/db
export MSPASS_LOG_DIR=$MSPASS_WORK_DIR/logs
export MSPASS_WORKER_DIR=$MSPASS_WORK_DIR/work

# With run_mspass_sharded.sh: the database and its COLLECTION:KEY entries to shard (hashed)
# export MSPASS_SHARD_DATABASE=mspass
# export MSPASS_SHARD_COLLECTIONS="wf_TimeSeries:_id"

# Optional: dask (default) or spark; `apptainer` or `singularity` (default: whichever exists)
export MSPASS_SCHEDULER=dask
# export MSPASS_CONTAINER_RUNTIME=singularity

# Optional: launcher options, e.g. "--worker-on-primary", "--workers-per-node 4",
# "--ports default" (the usual ports instead of a per-job block); see run_mspass.sh --help.
# Jobs are secure by default (a database login, dask over TLS with per-job certificates, the
# dashboard on the node's loopback); "--insecure" turns that off: other users of the
# cluster could then read your database and run code as you on your dask workers.
export MSPASS_HPC_ARGS=""

# Optional: the domain of the login node (e.g. cluster.example.edu), used only to print the
# full login-node name in the ssh command of interactive jobs; services use short names
export HOSTNAME_BASE=""
