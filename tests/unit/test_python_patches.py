"""scripts/build/python: this project's patches to installed Python packages, and the
script that applies them (make install; the image, after each install)."""

from __future__ import annotations

import importlib.util
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.prerequisites import require

APPLY = REPO / "scripts" / "build" / "python" / "apply-patches.sh"
MSPASSPY_PATCHES = REPO / "scripts" / "build" / "python" / "patches" / "mspasspy-2.4.3"
PASSWORD = "p@ss:w/rd"
ESCAPED = "p%40ss%3Aw%2Frd"


def mspasspy():
    require(importlib.util.find_spec("mspasspy"), "mspasspy in the virtualenv (make install, MSPASS_VERSION)")
    from mspasspy.db import client

    return client


@pytest.mark.parametrize("host, shown", [
    (f"mongodb://mspass:{ESCAPED}@db:27017", "mongodb://mspass:***@db:27017"),
    (f"mongodb://mspass:{ESCAPED}@db1:27017,db2:27017/x?authSource=admin",
     "mongodb://mspass:***@db1:27017,db2:27017/x?authSource=admin"),
    (f"mongodb+srv://mspass:{ESCAPED}@cluster.example.org/", "mongodb+srv://mspass:***@cluster.example.org/"),
    (f"mongodb://mspass:{PASSWORD}@db:27017", "mongodb://mspass:***@db:27017"),  # unescaped: hidden whole
    (f"mspass:{ESCAPED}@db:27017", "mspass:***@db:27017"),  # no scheme
    ("mongodb://mspass:@db", "mongodb://mspass:***@db"),
    ("mongodb://CN=client@db/?authMechanism=MONGODB-X509", "mongodb://CN=client@db/?authMechanism=MONGODB-X509"),
    ("mongodb://db:27017/", "mongodb://db:27017/"),
    ("db:27017", "db:27017"),
    ("127.0.0.1", "127.0.0.1"),
    ([f"mongodb://u:{ESCAPED}@a", "b:1"], ["mongodb://u:***@a", "b:1"]),
    (None, None),
])
def test_redact_password_hides_the_password_only(host, shown):
    assert mspasspy().redact_password(host) == shown


def test_reprs_hide_the_password_and_pickles_keep_it():
    client_module = mspasspy()
    host = f"mongodb://mspass:{ESCAPED}@127.0.0.1:1"
    client = client_module.DBClient(host, connect=False)
    try:
        db = client.get_database("x")
        for shown in (repr(client), str(client), repr(db), str(db), repr(db.wf_TimeSeries)):
            assert "mongodb://mspass:***@127.0.0.1:1" in shown and ESCAPED not in shown, shown
        assert client._mspass_db_host == host  # what the workers get: the whole address
        assert db.__getstate__()["_mspass_db_host"] == host
        again = pickle.loads(pickle.dumps(db))
        try:
            assert again.client._mspass_db_host == host and ESCAPED not in repr(again)
        finally:
            again.client.close()
    finally:
        client.close()


def test_client_error_names_the_address_without_its_password():
    mspasspy()
    from mspasspy.ccore.utility import MsPASSError
    from mspasspy.client import Client

    with pytest.raises(MsPASSError) as err:
        Client(database_host=f"mongodb://mspass:{PASSWORD}@127.0.0.1:1")  # invalid: refused at once
    assert "cannot create a database client with: mongodb://mspass:***@127.0.0.1:1" in str(err.value)
    assert PASSWORD not in str(err.value)


def fake_site(tmp_path: Path, dist: str, version: str) -> tuple[Path, Path]:
    """A Python without pip whose site-packages claims DIST VERSION is installed."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    return python, site


def apply(python: Path) -> subprocess.CompletedProcess:
    return subprocess.run([APPLY, python], capture_output=True, text=True, timeout=60)


def test_mspasspy_patch_applies_to_its_release_once(tmp_path):
    client_module = mspasspy()
    python, site = fake_site(tmp_path, "mspasspy", "2.4.3")
    installed = Path(client_module.__file__).parents[1]  # site-packages/mspasspy, patched by make install
    for name in ("client.py", "db/client.py"):
        (site / "mspasspy" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(installed / name, site / "mspasspy" / name)
    for patch in sorted(MSPASSPY_PATCHES.glob("*.patch")):  # back to the release's files
        subprocess.run(["patch", "-s", "-p1", "-R", "-f", "-d", site], stdin=patch.open(), check=True)
    assert "redact_password" not in (site / "mspasspy" / "db" / "client.py").read_text()

    first = apply(python)
    assert first.returncode == 0, first.stderr
    assert "mspasspy 2.4.3: 01-no-password-in-reprs.patch applied" in first.stdout
    assert "rfc3987-syntax is not installed" in first.stdout  # skipped, saying so
    for name in ("client.py", "db/client.py"):
        assert (site / "mspasspy" / name).read_text() == (installed / name).read_text(), name
    second = apply(python)
    assert second.returncode == 0 and "01-no-password-in-reprs.patch already applied" in second.stdout, second


def test_another_mspasspy_version_is_an_error(tmp_path):
    python, _ = fake_site(tmp_path, "mspasspy", "2.4.4")
    run = apply(python)
    assert run.returncode != 0
    assert "mspasspy 2.4.4 is installed; patches in" in run.stderr and "are for 2.4.3" in run.stderr
