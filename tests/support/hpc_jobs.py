"""A user's run directory for the MsPASS job scripts on the emulated cluster: the templates
copied and edited only on the lines marked EDIT, plus the test notebooks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.support.paths import NOTEBOOKS, REPO

MSPASS_UID = 1000
SIF_NAME_DEFAULT = "mspass_latest.sif"


def edits(sif_name: str) -> dict[str, str]:
    """The values a user puts on the lines marked EDIT, for this emulated cluster (this
    checkout is at /opt/mspass on every node)."""
    return {
        "MSPASS_HOME": "/opt/mspass",
        "MSPASS_CONTAINER": f"/sif/{sif_name}",
        "APPTAINER_BIND": "/shared",
    }


def edit_template(text: str, sif_name: str = SIF_NAME_DEFAULT) -> str:
    """Change only what the comments say to change."""
    for name, value in edits(sif_name).items():
        text, n = re.subn(rf"^export {name}=.*# EDIT$", f"export {name}={value} # EDIT", text, flags=re.M)
        assert n == 1, f"no EDIT line for {name}"
    return short_walltime(text)


def short_walltime(text: str) -> str:
    return text.replace("#SBATCH --time=01:00:00", "#SBATCH --time=00:10:00")


def prepare_run_dir(path: Path, sif_name: str = SIF_NAME_DEFAULT, notebooks=("roundtrip.ipynb",),
                    scripts=("job_script.sh",)) -> Path:
    """path (under the cluster's /shared) with mspass_setup.sh, the job scripts and notebooks."""
    path.mkdir()
    template = REPO / "scripts" / "template"
    (path / "mspass_setup.sh").write_text(edit_template((template / "mspass_setup.sh").read_text(), sif_name))
    for name in scripts:
        (path / name).write_text(short_walltime((template / name).read_text()))
        (path / name).chmod(0o755)
    for name in notebooks:
        shutil.copy(NOTEBOOKS / name, path)
    for p in [path, *path.iterdir()]:
        shutil.chown(p, MSPASS_UID, MSPASS_UID)
    return path
