"""Tier 3: `mspass-db` in the image. In the all-in-one container, waveforms written by
mspasspy survive `mspass-db dump`, a dropped database and `mspass-db restore`, and
`mspass-db import` types JSON and CSV values; with MongoDB's tools when the image has them,
else with pymongo (tests/notebooks/backup_restore.py does the work and prints a summary)."""

from __future__ import annotations

import json

import pytest

from tests.support.containers import FAST_HEALTH
from tests.support.paths import NOTEBOOKS

pytestmark = pytest.mark.image


def test_backup_restore_and_import_in_the_all_in_one(containers):
    c = containers.run("all", healthcheck=FAST_HEALTH,
                       volumes={str(NOTEBOOKS): {"bind": "/opt/mspass-tests", "mode": "ro"}})
    containers.wait_healthy(c)

    help_ = c.exec_run(["mspass-db", "--help"])
    assert help_.exit_code == 0 and b"dump" in help_.output and b"restore" in help_.output
    bad = c.exec_run(["mspass-db", "import", "--db", "x", "--collection", "y", "--type", "xml"])
    assert bad.exit_code == 2 and b"--type: invalid choice: 'xml'" in bad.output, bad.output

    result = c.exec_run(["python", "/opt/mspass-tests/backup_restore.py"])
    output = result.output.decode(errors="replace")
    assert result.exit_code == 0, output
    summary = json.loads(output.strip().splitlines()[-1])

    # MongoDB's tools when the image has them, else pymongo; and the run says which
    expected = ["mongodump", "mongorestore", "mongoimport"] if summary["tools_on_path"] else ["pymongo"] * 3
    assert summary["engines"] == expected, output
    assert summary["dropped"] is True
    assert summary["counts_before"]["wf_TimeSeries"] == 7 and summary["counts_before"]["fs.chunks"] >= 10
    assert summary["counts_after"] == summary["counts_before"], output
    assert summary["chunks_equal"] is True  # fs.chunks byte for byte
    assert summary["waveforms"] == list(range(7)) and summary["max_abs_difference"] == 0.0

    assert summary["source"] == [
        {"_id": ["int", "1"], "lat": ["float", "34.5"], "depth": ["int", "10"],
         "time": ["datetime", "2011-03-11 05:46:24"]},
        {"_id": ["int", "2"], "lat": ["float", "35.0"], "depth": ["Int64", "7"]}]
    assert summary["arrival"] == [
        {"sta": ["str", "A01"], "phase": ["str", "P"], "time": ["float", 1300000010.25], "snr": ["int", 12]},
        {"sta": ["str", "B02"], "phase": ["str", "S"], "time": ["float", 1300000020.5], "snr": ["int", 3]}]
