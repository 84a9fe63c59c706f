"""What tests/notebooks/mspass_workflow.ipynb reports, checked the same way in every tier."""

from __future__ import annotations

import json
from pathlib import Path


def summary(work: Path, name: str = "mspass_workflow-summary.json") -> dict:
    return json.loads((Path(work) / name).read_text())


def check(found: dict, n_data: int) -> dict:
    """Every datum back, processed samples as computed here, and MsPASS's components page's
    code as printed: a function given to client.submit read the n_data traces through
    fetch_dbhandle, and a fold of stack summed them."""
    assert found["documents"] == n_data and found["max_abs_difference"] < 1e-9, found
    components = found["components"]
    assert components["submit_members"] == n_data and components["stacked"] == n_data, components
    assert components["stack_max_difference"] < 1e-6, components
    return found
