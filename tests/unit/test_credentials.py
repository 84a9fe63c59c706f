"""credentials: a cluster's password and certificates, private, made with the openssl command."""

from __future__ import annotations

import subprocess

import pytest

from mspass_roles import credentials
from mspass_roles.settings import db_credentials


def test_credentials_are_private_and_signed_by_a_ca_whose_key_is_gone(tmp_path):
    directory = tmp_path / "job" / "credentials"
    env = credentials.create(directory)
    assert directory.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in directory.iterdir()) == ["ca.pem", "db-password", "tls.key", "tls.pem"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in directory.iterdir())
    verify = subprocess.run(["openssl", "verify", "-CAfile", env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"],
                             env["DASK_DISTRIBUTED__COMM__TLS__WORKER__CERT"]], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    user, password = db_credentials(env)
    assert user == "mspass" and len(password) >= 40
    assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
    credentials.remove(directory)
    assert not directory.exists()


def test_two_clusters_get_different_secrets(tmp_path):
    a, b = credentials.create(tmp_path / "a"), credentials.create(tmp_path / "b")
    assert db_credentials(a)[1] != db_credentials(b)[1]
    assert (tmp_path / "a" / "ca.pem").read_text() != (tmp_path / "b" / "ca.pem").read_text()


def test_an_existing_directory_is_not_reused(tmp_path):
    (tmp_path / "c").mkdir()
    with pytest.raises(FileExistsError):
        credentials.create(tmp_path / "c")
