"""MSPASS_WORKER_ARG checked as `dask worker` reads it, before any service starts.

dask refuses a bad argument only when the worker starts, after the database and the
scheduler did. Here its own click command parses the arguments (option names and types
exactly as dask checks them), then the values dask checks only later are checked too.
Importing distributed costs most of a second: settings call this only for roles that
start a dask worker, and only when MSPASS_WORKER_ARG is set.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import socket
from pathlib import Path


def worker_command():
    """distributed's click command for `dask worker`, except that --preload modules are not
    imported: dask imports them to check the words after them, which would run the user's
    code here, on every health check."""
    import click
    from distributed.cli.dask_worker import main
    from distributed.preloading import validate_preload_argv

    def preload_argv(ctx, param, value):
        # without --preload, dask's own check: extra words are unknown options or stray words
        return value if ctx.params.get("preload") else validate_preload_argv(ctx, param, value)

    params = [copy.copy(p) for p in main.params]
    for p in params:
        if p.name == "preload_argv":
            p.callback = preload_argv
    return click.Command(main.name, params=params, context_settings=main.context_settings)


def problems(argv: tuple[str, ...], scheduler: str) -> list[str]:
    """What is wrong with `dask worker SCHEDULER ARGV...` before it runs; [] when nothing.
    Each problem names the option; the caller says which variable it came from."""
    import click

    try:
        # dask prints --help, --version and deprecation notes while parsing: not ours to show
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ctx = worker_command().make_context("dask worker", [scheduler, *argv], resilient_parsing=False)
    except click.ClickException as err:
        return [f"dask worker says: {err.format_message()}"]
    except click.exceptions.Exit:
        return ["--help and --version make dask worker print and exit instead of running a worker"]
    return value_problems(ctx)


def value_problems(ctx) -> list[str]:
    """The checks dask makes only once the worker starts (distributed/cli/dask_worker.py's
    main(), and its Nanny and Worker), on the values its command line parsed."""
    from click.core import ParameterSource
    from dask.system import CPU_COUNT
    from dask.utils import parse_timedelta
    from distributed.deploy.utils import nprocesses_nthreads
    from distributed.utils import parse_ports

    params = ctx.params
    found: list[str] = []
    # dask reads 0 as "CPUs / processes" and hands a negative number on to each worker, which fails
    if params["nthreads"] <= 0 and ctx.get_parameter_source("nthreads") is ParameterSource.COMMANDLINE:
        found.append(f"--nthreads must be a positive integer (got {params['nthreads']})")

    processes = 1
    nworkers = params["n_workers"]
    if nworkers == "auto":
        processes = nprocesses_nthreads()[0]
    elif nworkers is not None:
        try:
            processes = int(nworkers)
        except ValueError:
            processes = 0
        if processes < 0:  # dask's rule: -1 is one process per CPU, -2 one fewer, ...
            processes = CPU_COUNT + 1 + processes
        if processes <= 0:
            found.append(f"--nworkers must be a positive integer, 'auto', or -N for CPUs + 1 - N processes "
                         f"(dask counts {CPU_COUNT} CPUs here, so -{CPU_COUNT} at least); got {nworkers!r}")
            processes = 1

    # dask's own early exits, in its order
    if processes > 1 and not params["nanny"]:
        found.append("--no-nanny cannot run more than one worker process (--nworkers)")
    if params["contact_address"] and not params["listen_address"]:
        found.append("--contact-address needs --listen-address")
    if params["listen_address"] and processes > 1:
        found.append("--listen-address cannot be used with more than one worker process (--nworkers)")
    if params["listen_address"] and (params["worker_port"] or params["host"]):
        found.append("--listen-address cannot be used with --worker-port or --host")

    if params["resources"]:
        # dask: "GPU=2 MEM=10e9" (or comma-separated), each value a number
        for pair in params["resources"].replace(",", " ").split():
            name, _, amount = pair.partition("=")
            try:
                float(amount)
                ok = bool(name)
            except ValueError:
                ok = False
            if not ok:
                found.append(f"--resources entry {pair!r} is not NAME=NUMBER (like \"GPU=2 MEM=10e9\")")

    for option, key in (("--death-timeout", "death_timeout"), ("--lifetime", "lifetime"),
                        ("--lifetime-stagger", "lifetime_stagger")):
        if params[key] is not None:
            try:
                parse_timedelta(params[key])
            except (ValueError, KeyError, IndexError, TypeError):
                found.append(f"{option} {params[key]!r} is not a duration; valid: seconds, or a number and a "
                             "unit like 30s, 5m, 2h")

    for option, key in (("--worker-port", "worker_port"), ("--nanny-port", "nanny_port")):
        if params[key] is not None:
            try:
                ok = all(p is None or 0 <= p <= 65535 for p in parse_ports(params[key]))
            except ValueError:
                ok = False
            if not ok:
                found.append(f"{option} {params[key]!r} is not a port; valid: PORT or FIRST:LAST, from 0 to 65535")
    return found + machine_problems(params)


def machine_problems(params) -> list[str]:
    """Files and interfaces the worker needs from this machine. Relative paths are left to
    dask: they are relative to the worker's directory, not to ours."""
    found: list[str] = []
    scheduler_file = params["scheduler_file"]
    if scheduler_file and os.path.isabs(scheduler_file) and not Path(scheduler_file).parent.is_dir():
        # dask waits for the file (until --death-timeout); in a missing directory none can appear
        found.append(f"--scheduler-file {scheduler_file!r}: its directory {str(Path(scheduler_file).parent)!r} does "
                     "not exist, so the scheduler's file can never appear there; valid: a path in an existing "
                     "directory (the one `dask scheduler --scheduler-file` writes, e.g. on a shared file system)")
    local_directory = params["local_directory"]
    if local_directory and os.path.isabs(local_directory):
        existing = Path(local_directory)
        while not os.path.exists(existing):  # dask makes the missing directories
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            found.append(f"--local-directory {local_directory!r} cannot be made: {str(existing)!r} is not a "
                         f"directory uid {os.getuid()} can write; valid: a writable directory")
    interface = params["interface"]
    names = [name for _, name in socket.if_nameindex()]
    if interface and interface not in names:
        found.append(f"--interface {interface!r} is not a network interface of this machine; valid: "
                     f"{', '.join(names)}")
    for option, key in (("--preload", "preload"), ("--preload-nanny", "preload_nanny")):
        for name in params[key]:
            # dask reads a name ending in .py as a file to run, anything else as a module or URL
            if name.endswith(".py") and os.path.isabs(name) and not os.path.isfile(name):
                found.append(f"{option} {name!r} is not a file; valid: a Python file, a module name or a URL")
    return found
