"""Support shared by every test tier and the benchmarks (which import it, never test modules):

- paths: REPO, NOTEBOOKS
- wait: wait_until, the one polling helper
- prerequisites: require (skip locally, fail in CI), http_status
- settings: Settings from a controlled environment (unit tests)
- processes: role processes on loopback (process tier, benchmarks)
- writer: AckedWriter, a database writer that counts what the server acknowledged
- containers: containers through the Docker SDK, tracked and removed (image, cluster,
  reliability, desktop tiers)
- apptainer: a container standing for an HPC node with Apptainer (SIF tier)
- slurm, hpc_jobs: the emulated Slurm cluster and a user's run directory (HPC tier)
"""
