#!/bin/bash
# MsPASS with sharded MongoDB (MsPASS's run_mspass_sharded.sh): the dbmanager (config
# server and mongos) with scheduler and frontend on the first node, a shard and a worker
# on every other node. Use it as MSPASS_RUNSCRIPT with a SIF built from an image with
# MongoDB (make build MSPASS_DB_ENGINE=mongodb), and set MSPASS_SHARD_DATABASE and
# MSPASS_SHARD_COLLECTIONS (COLLECTION:KEY, hashed) in mspass_setup.sh.
#     run_mspass_sharded.sh [NOTEBOOK [papermill options]]
# Shard ids come from the nodes' order in the job (rs1, rs2, ...) and name their data
# directories (MSPASS_DB_DIR/shard-ID), so a later job with as many nodes finds its data
# on whichever nodes it gets.
set -euo pipefail
MSPASS_LAUNCHER_EXTRA="--sharded" exec "$(dirname "${BASH_SOURCE[0]}")/run_mspass.sh" "$@"
