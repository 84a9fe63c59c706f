"""The SIF under Apptainer, in the project's helper container (Debian sid's Apptainer),
run as a non-root user: all-in-one, separate roles on one node, and bad directories."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.prerequisites import require
from tests.support.apptainer import HELPER, run_apptainer_host
from tests.support.workflow import check

pytestmark = pytest.mark.sif

SIF_DIR = Path(os.environ.get("SIF_DIR", REPO / "build"))
SIF_NAME = os.environ.get("SIF_NAME", "mspass_latest.sif")
USER = "1000"  # the helper image's non-root user


class Node:
    """A helper container standing for one HPC node with Apptainer installed."""

    def __init__(self, container, work: Path):
        self.container = container
        self.work = work  # host side of /work

    def sh(self, script: str, user: str = USER, env: dict | None = None) -> tuple[int, str]:
        result = self.container.exec_run(["bash", "-c", script], user=user, environment=env or {})
        return result.exit_code, result.output.decode(errors="replace")

    def apptainer(self, args: str, cwd: str, env: dict | None = None) -> tuple[int, str]:
        return self.sh(f"cd {cwd} && apptainer run --no-eval /sif/{SIF_NAME} {args}", env=env)


@pytest.fixture(scope="module")
def node(docker, tmp_path_factory):
    from docker.errors import ImageNotFound

    require((SIF_DIR / SIF_NAME).is_file(), f"the SIF {SIF_DIR / SIF_NAME}; run `make sif`")
    try:
        docker.images.get(HELPER)
    except ImageNotFound:
        require(False, f"the helper image {HELPER}; run `make apptainer-image`")
    work = tmp_path_factory.mktemp("sif-work")
    work.chmod(0o777)
    container = run_apptainer_host(docker, {
        str(SIF_DIR): {"bind": "/sif", "mode": "ro"}, str(work): {"bind": "/work", "mode": "rw"},
        str(REPO / "tests"): {"bind": "/tests", "mode": "ro"}})
    try:
        yield Node(container, work)
    finally:
        container.remove(force=True)


def workdir(node: Node, name: str, *notebooks: str) -> str:
    path = node.work / name
    path.mkdir()
    for nb in notebooks:
        shutil.copy(REPO / "tests" / "notebooks" / nb, path)
        os.chown(path / nb, int(USER), int(USER))
    os.chown(path, int(USER), int(USER))
    return f"/work/{name}"


def test_all_in_one_batch_as_a_non_root_user(node):
    cwd = workdir(node, "aio", "roundtrip.ipynb")
    code, out = node.apptainer("--batch roundtrip.ipynb -p n_tasks 20", cwd)
    assert code == 0, out
    summary = json.loads((node.work / "aio" / "roundtrip-summary.json").read_text())
    assert summary["documents"] == 20 and summary["total"] == sum(i * i for i in range(20))
    written = list((node.work / "aio").rglob("*"))
    assert {p.stat().st_uid for p in written} == {int(USER)}  # the caller's user, not root
    assert "worker ready" in out and "batch finished (exit code 0" in out


def test_mspass_workflow_on_roles_as_separate_runs_on_one_node(node):
    cwd = workdir(node, "node", "mspass_workflow.ipynb")
    code, out = node.sh(f"/tests/sif/one_node.sh /sif/{SIF_NAME} {cwd} mspass_workflow.ipynb -p n_data 24 "
                        "-p expect_workers 2 -p seconds_per_datum 0.2")
    logs = {p.name: p.read_text() for p in (node.work / "node").glob("*.out")}
    assert code == 0, out + "\n".join(f"== {k}\n{v}" for k, v in logs.items())
    summary = json.loads((node.work / "node" / "mspass_workflow-summary.json").read_text())
    assert summary["workers"] == ["worker1", "worker2"] and summary["documents"] == 24
    check(summary, 24)
    assert "on 0.0.0.0:27100" in logs["db.out"]  # the ports moved, by SINGULARITYENV_ only
    assert "dask on tcp://0.0.0.0:8900" in logs["scheduler.out"]


def test_a_read_only_work_dir_is_a_clear_error(node):
    workdir(node, "readonly")
    code, out = node.sh(f"cd /tmp && apptainer run --no-eval -B /work/readonly:/data:ro /sif/{SIF_NAME}",
                        env={"SINGULARITYENV_MSPASS_WORK_DIR": "/data"})
    assert code == 2, out
    assert "MSPASS_WORK_DIR='/data' is not writable" in out


def test_an_unwritable_db_dir_is_a_clear_error(node):
    cwd = workdir(node, "dbdir")
    code, out = node.apptainer("db", cwd, env={"SINGULARITYENV_MSPASS_DB_DIR": "/opt/mspass/db"})
    assert code == 2, out
    assert "MSPASS_DB_DIR='/opt/mspass/db' cannot be created" in out
    assert not (node.work / "dbdir" / "logs").exists()
