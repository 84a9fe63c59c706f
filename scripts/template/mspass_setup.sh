#!/bin/bash
# MsPASS job settings, sourced by job_script.sh and single_node.sh: MsPASS's mspass_setup.sh
# (its HPC guide) with the same variables. Make a private copy next to your notebooks and
# edit the lines marked EDIT. Every value below yields to one already in the environment,
# e.g. `MSPASS_RUNSCRIPT=... sbatch job_script.sh nb.ipynb`.

# This checkout on the cluster (the guide's ~/mspass): the run scripts and the launcher
export MSPASS_HOME=${MSPASS_HOME:-~/mspass} # EDIT
# The MsPASS SIF (`make sif` builds build/mspass_latest.sif; copy it to the cluster)
export MSPASS_CONTAINER=${MSPASS_CONTAINER:-$MSPASS_HOME/containers/mspass_latest.sif} # EDIT

# File systems the containers must see (data, work and scratch areas), comma-separated.
# Your home directory and the current directory are bound anyway.
export APPTAINER_BIND=${APPTAINER_BIND:-${SINGULARITY_BIND:-/scratch}} # EDIT
export SINGULARITY_BIND=$APPTAINER_BIND # the same for Singularity

# The run directory (your notebooks) and where the database, logs and worker scratch go.
# Defaults: the directory you submit from, and db/, logs/, work/ under it.
export MSPASS_WORK_DIR=${MSPASS_WORK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}
export MSPASS_DB_DIR=${MSPASS_DB_DIR:-$MSPASS_WORK_DIR/db}
export MSPASS_LOG_DIR=${MSPASS_LOG_DIR:-$MSPASS_WORK_DIR/logs}
export MSPASS_WORKER_DIR=${MSPASS_WORKER_DIR:-$MSPASS_WORK_DIR/work}

# Optional: the domain of the login node (e.g. cluster.example.edu), used only to print the
# login node's full name in the ssh commands the job prints; services use short names
export HOSTNAME_BASE=${HOSTNAME_BASE:-}

# The script that starts the virtual cluster: run_mspass.sh (roles on several nodes) or
# run_mspass_sharded.sh (sharded MongoDB: a shard on every node but the first), in
# $MSPASS_HOME/scripts/template/ (a copy elsewhere finds the launcher through MSPASS_HOME).
export MSPASS_RUNSCRIPT=${MSPASS_RUNSCRIPT:-$MSPASS_HOME/scripts/template/run_mspass.sh}

# With run_mspass_sharded.sh: the database and its COLLECTION:KEY entries to shard (hashed)
# export MSPASS_SHARD_DATABASE=mspass
# export MSPASS_SHARD_COLLECTIONS="wf_TimeSeries:_id"

# Optional: dask (default) or spark; `apptainer` or `singularity` (default: whichever exists)
export MSPASS_SCHEDULER=${MSPASS_SCHEDULER:-dask}
# export MSPASS_CONTAINER_RUNTIME=singularity

# Optional: launcher options (run_mspass.sh --help), e.g. a dedicated scheduler and database
# node with the notebook and 2 worker processes on the second node and 8 single-threaded
# worker processes on the others:
#   "--primary 1 --scheduler-node 0 --db-node 0 --primary-workers 2 --workers-per-node 8 --threads-per-worker 1"
# "--ports default" (the usual ports instead of a per-job block). Jobs are secure by default
# (a database login, dask over TLS with per-job certificates, the dashboard on the node's
# loopback); "--insecure" turns that off: other users of the cluster could then read your
# database and run code as you on your dask workers.
export MSPASS_HPC_ARGS=${MSPASS_HPC_ARGS:-}

# Optional, for sites that refuse ssh from the login nodes to compute nodes: add
# "--tunnel reverse" to MSPASS_HPC_ARGS and name the login nodes (here login1..login4); the
# job then opens ssh tunnels from its nodes to each, on these ports (default: two from the
# job id, between 40000 and 59999)
# export LOGIN_NODE_BASENAME=login NUMBER_LOGIN_NODES=4
# export LOGIN_PORT=41234 STATUS_PORT=41235
