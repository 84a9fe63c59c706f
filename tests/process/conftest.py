"""Tier 2: roles started as real local processes (real FerretDB/mongod, dask, Jupyter).

`roles` tracks every role process a test starts, always stops them (also on failure), and
prints each role's output and its services' log tails when the test failed.
"""

import shutil

import pytest

from tests.support.prerequisites import require
from tests.support.processes import Roles


@pytest.fixture
def roles(tmp_path, request):
    require(shutil.which("ferretdb") or shutil.which("mongod"),
            "a database server (ferretdb or mongod) on PATH; run `make install` (scripts/build/ferretdb/build-ferretdb.sh)")
    tracker = Roles(tmp_path)
    yield tracker
    tracker.cleanup()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(tracker.logs())

