"""The supervisor's pure parts: the children's environment (the process tier runs plans)."""

from __future__ import annotations

import ctypes.util
import os
import pwd

import pytest

from mspass_roles.supervisor import child_environment
from tests.support.settings import make


@pytest.fixture
def unknown_uid(monkeypatch):
    """This process's uid has no passwd entry (docker run --user 1234:1234)."""
    def getpwuid(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", getpwuid)
    for name in ("USER", "LOGNAME", "LD_PRELOAD", "HOME"):
        monkeypatch.delenv(name, raising=False)


def test_secrets_stay_out_of_the_childrens_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MSPASS_JUPYTER_TOKEN", "sekrit-token")
    env = child_environment(make(tmp_path))
    assert "MSPASS_JUPYTER_TOKEN" not in env and "sekrit-token" not in env.values()


def test_an_unknown_uid_gets_a_name_home_and_passwd_entry_through_nss_wrapper(tmp_path, monkeypatch, unknown_uid):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libnss_wrapper.so.0" if name == "nss_wrapper" else None)
    env = child_environment(make(tmp_path))
    assert env["USER"] == env["LOGNAME"] == f"uid{os.getuid()}"
    assert env["HOME"] == str(tmp_path / "run" / "home")
    assert env["LD_PRELOAD"] == "libnss_wrapper.so.0"
    files = tmp_path / "run" / "nss-node1"  # per node: mspass-hpc's run dir is shared
    passwd = (files / "passwd").read_text().splitlines()
    assert passwd[-1] == f"uid{os.getuid()}:x:{os.getuid()}:{os.getgid()}:MsPASS user:{env['HOME']}:/bin/false"
    assert passwd[0].startswith("root:")  # the image's own users stay known
    assert env["NSS_WRAPPER_PASSWD"] == str(files / "passwd") and env["NSS_WRAPPER_GROUP"] == str(files / "group")
    assert files.stat().st_mode & 0o777 == 0o700 and sorted(p.name for p in files.iterdir()) == ["group", "passwd"]


def test_a_preloaded_library_is_kept_after_nss_wrapper(tmp_path, monkeypatch, unknown_uid):
    monkeypatch.setenv("LD_PRELOAD", "libjemalloc.so.2")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libnss_wrapper.so.0")
    assert child_environment(make(tmp_path))["LD_PRELOAD"] == "libnss_wrapper.so.0 libjemalloc.so.2"


def test_without_nss_wrapper_an_unknown_uid_still_gets_a_name(tmp_path, monkeypatch, unknown_uid):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    env = child_environment(make(tmp_path))
    assert env["USER"] == f"uid{os.getuid()}" and "NSS_WRAPPER_PASSWD" not in env and "LD_PRELOAD" not in env


def test_a_known_uid_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    env = child_environment(make(tmp_path))
    assert "NSS_WRAPPER_PASSWD" not in env and "LD_PRELOAD" not in env and env["HOME"] == str(tmp_path)


def test_the_database_login_and_secret_files_stay_out_of_the_childrens_environment(tmp_path, monkeypatch):
    secret = tmp_path / "password"
    secret.write_text("pw")
    monkeypatch.setenv("MONGO_INITDB_ROOT_USERNAME", "mspass")
    monkeypatch.setenv("MONGO_INITDB_ROOT_PASSWORD_FILE", str(secret))
    env = child_environment(make(tmp_path))
    assert not {"MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD_FILE"} & set(env)


# ------------------------------------------------------------------ the open-file limit (issue 26)


def test_no_open_file_warning_where_the_hard_limit_is_enough_for_the_data():
    from mspass_roles.supervisor import nofile_needed, nofile_warning

    # Docker's engines give containers a hard limit of 1048576 (or 524288), raised to ourselves
    assert nofile_warning(1048576, 1048576, nofile_needed("mongodb", 300), "docker") is None
    # a host's 20000 is plenty for FerretDB, and for MongoDB with a few hundred collections
    assert nofile_warning(20000, 20000, nofile_needed("ferretdb", 12), "host") is None
    assert nofile_warning(20000, 20000, nofile_needed("mongodb", 400), "host") is None
    # an unlimited hard limit
    import resource
    assert nofile_warning(1048576, resource.RLIM_INFINITY, 10**9, "host") is None


def test_the_open_file_warning_says_how_to_raise_it_where_the_user_is():
    from mspass_roles.supervisor import nofile_needed, nofile_warning

    needed = nofile_needed("mongodb", 10)
    docker = nofile_warning(1024, 1024, needed, "docker")
    assert docker.startswith("WARNING: open-file limit is 1024 (hard limit 1024)") and "--ulimit nofile=" in docker
    sif = nofile_warning(1024, 1024, needed, "apptainer")
    assert "--ulimit" not in sif and "administrators" in sif
    host = nofile_warning(1024, 1024, needed, "host")
    assert "--ulimit" not in host and "limits.conf" in host
    # the data in hand counts: 20000 is too low for a MongoDB of 9000 files
    assert nofile_warning(20000, 20000, nofile_needed("mongodb", 9000), "host") is not None
    # a soft limit the kernel refused to raise: raising it is the step
    assert "ulimit -n 4096" in nofile_warning(1024, 4096, needed, "host")


def test_where_running_and_the_data_files_counted(tmp_path):
    from mspass_roles.supervisor import count_files, where_running

    assert where_running({}, dockerenv=True) == "docker"
    assert where_running({"APPTAINER_CONTAINER": "/x.sif"}, dockerenv=False) == "apptainer"
    assert where_running({"SINGULARITY_CONTAINER": "/x.sif"}, dockerenv=False) == "apptainer"
    assert where_running({}, dockerenv=False) == "host"
    (tmp_path / "journal").mkdir()
    for name in ("a.wt", "b.wt", "journal/WiredTigerLog.1"):
        (tmp_path / name).write_text("")
    assert count_files(tmp_path) == 3
    assert count_files(tmp_path, cap=2) == 2
    assert count_files(tmp_path / "missing") == 0 and count_files(None) == 0
