"""credentials: a cluster's password and certificates, private, made with the openssl command."""

from __future__ import annotations

import subprocess

import pytest

from mspass_roles import credentials
from mspass_roles.settings import db_credentials


def test_certificates_are_private_and_signed_by_a_ca_whose_key_is_gone(tmp_path):
    directory = tmp_path / "job" / "tls"
    env = credentials.make_tls(directory)
    assert env == credentials.tls_variables(directory)
    assert directory.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in directory.iterdir()) == ["ca.pem", "tls.key", "tls.pem"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in directory.iterdir())
    verify = subprocess.run(["openssl", "verify", "-CAfile", env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"],
                             env["DASK_DISTRIBUTED__COMM__TLS__WORKER__CERT"]], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
    credentials.remove(directory)
    assert not directory.exists()


def test_two_clusters_get_different_cas(tmp_path):
    credentials.make_tls(tmp_path / "a")
    credentials.make_tls(tmp_path / "b")
    assert (tmp_path / "a" / "ca.pem").read_text() != (tmp_path / "b" / "ca.pem").read_text()


def test_an_existing_certificate_directory_is_not_reused(tmp_path):
    (tmp_path / "c").mkdir()
    with pytest.raises(FileExistsError):
        credentials.make_tls(tmp_path / "c")


def test_a_login_is_random_private_and_kept_for_the_database_it_was_made_for(tmp_path):
    env = credentials.make_login(tmp_path / "db.password")
    user, password = db_credentials(env)
    assert user == "mspass" and len(password) >= 40
    assert (tmp_path / "db.password").stat().st_mode & 0o777 == 0o600
    assert db_credentials(credentials.make_login(tmp_path / "db.password")) == (user, password)
    assert db_credentials(credentials.make_login(tmp_path / "other.password"))[1] != password
