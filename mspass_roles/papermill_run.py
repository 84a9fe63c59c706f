"""A batch notebook run: papermill's own command line (every option of `papermill`, so
`mspass-role --batch NB.ipynb -p NAME VALUE ...` keeps working), run in this process so
that what it prints is the user's:

- a cell that fails ends the run with the notebook's error (the cell, the exception and
  the notebook's traceback) and exit code 1, without papermill's and click's Python
  traceback, which says only where papermill noticed it (about 25 lines before the
  user's error);
- nbformat's MissingIDFieldWarning (a notebook whose cells have no ids: papermill gives
  them ids and runs it) is not shown; filtered here, not by PYTHONWARNINGS, which the
  notebook's kernel would inherit;
- the kernel's "running over TCP without encryption" warning: its connection is encrypted
  (CurveZMQ keys provisioned by jupyter_client, as ipykernel asks) wherever pyzmq has
  CurveZMQ and the kernelspec declares it; otherwise the warning stays, since it is then true.

    python -m mspass_roles.papermill_run NOTEBOOK OUTPUT [papermill options]
"""

from __future__ import annotations

import re
import sys
import warnings

#: papermill's default engine, replaced in this process only (see _engine)
_ENCRYPTION = "auto"


def failure_report(err, notebook: str = "", output: str = "") -> str:
    """What a failed cell shows the user: the error on the first line, then where, then the
    notebook's own traceback (colours stripped), then where the executed copy is.
    `err`: papermill's PapermillExecutionError (its cell_index, exec_count, source, ename,
    evalue and traceback)."""
    ename, evalue = getattr(err, "ename", "") or "Error", getattr(err, "evalue", "") or ""
    first = f"{ename}: {evalue}" if evalue else ename
    where = "a cell" if getattr(err, "exec_count", None) is None else f"cell In [{err.exec_count}]"
    if getattr(err, "cell_index", None) is not None:
        where += f" (cell {err.cell_index + 1} of the notebook)"
    lines = [f"batch: the notebook {notebook + ' ' if notebook else ''}failed in {where}: {first}"]
    trace = "\n".join(getattr(err, "traceback", None) or [])
    trace = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", trace).strip("\n")
    if trace:
        lines.append(trace)
    if output:
        lines.append(f"batch: the executed notebook, with this error in it: {output}")
    return "\n".join(lines)


def _paths(argv: list[str]) -> tuple[str, str]:
    """NOTEBOOK and OUTPUT: papermill's first two arguments (as batch_service gives them)."""
    positional = [a for a in argv[:2] if not a.startswith("-")]
    return (positional + ["", ""])[0], (positional + ["", ""])[1]


def _curve_available() -> bool:
    try:
        import zmq

        return bool(zmq.has("curve"))
    except Exception:  # noqa: BLE001 - no encryption then, and the kernel's warning stays true
        return False


def _install_engine() -> None:
    """papermill's default engine, with the kernel's channels encrypted: nbclient's kernel
    manager gets jupyter_client's transport_encryption policy (CurveZMQ keys made for each
    kernel; 'auto': only for a kernelspec that declares CurveZMQ, as ipykernel's does)."""
    if not _curve_available():
        return
    from papermill.engines import NBClientEngine, papermill_engines
    from traitlets.config import Config

    class EncryptedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            config = Config(kwargs.pop("config", None) or {})
            config.KernelManager.transport_encryption = _ENCRYPTION
            return super().execute_managed_notebook(nb_man, kernel_name, config=config, **kwargs)

    papermill_engines.register(None, EncryptedKernelEngine)
    papermill_engines.register("nbclient", EncryptedKernelEngine)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from nbformat.warnings import MissingIDFieldWarning
    from papermill.cli import papermill
    from papermill.exceptions import PapermillExecutionError

    warnings.filterwarnings("ignore", category=MissingIDFieldWarning)
    _install_engine()
    notebook, output = _paths(argv)
    try:
        # standalone: click still handles its usage errors (exit 2) and --help itself
        papermill.main(args=argv, prog_name="papermill")
    except PapermillExecutionError as err:
        sys.stdout.flush()
        print(failure_report(err, notebook, output), file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
