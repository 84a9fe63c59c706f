"""Credentials of a cluster on shared nodes (mspass-hpc makes them): a fresh CA with one
certificate for the cluster's dask roles (or a Spark cluster's shared secret), and a random
database password, in private files; handed to the roles as the contract's variables (paths only).

Standard library and the `openssl` command: mspass-hpc runs on login nodes with the
system's python3, where `cryptography` may be missing and openssl never is. The commands
work with OpenSSL 1.1 (RHEL 8) and 3.x.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from .files import write_private

DB_USER = "mspass"
#: how long the certificates are valid: longer than any Slurm job may run
DAYS = "400"
DASK_TLS = "DASK_DISTRIBUTED__COMM__TLS__"


class CredentialsError(Exception):
    pass


def tls_variables(directory: Path) -> dict[str, str]:
    """dask's variables for the CA and certificate `make_tls` writes into `directory`."""
    env = {f"{DASK_TLS}CA_FILE": str(directory / "ca.pem"), "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}
    for who in ("SCHEDULER", "WORKER", "CLIENT"):  # dask checks hostnames nowhere: one certificate
        env[f"{DASK_TLS}{who}__CERT"] = str(directory / "tls.pem")
        env[f"{DASK_TLS}{who}__KEY"] = str(directory / "tls.key")
    return env


def make_tls(directory: Path) -> dict[str, str]:
    """A fresh CA and one certificate it signed, in `directory` (created, mode 0700; files
    0600). The CA's key is deleted once it has signed: nobody can make another certificate
    this cluster accepts."""
    if shutil.which("openssl") is None:
        raise CredentialsError("openssl is not on PATH; it makes the cluster's certificates")
    directory.mkdir(mode=0o700, parents=True)
    os.chmod(directory, 0o700)  # whatever the umask
    old_umask = os.umask(0o077)
    try:
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        _openssl(directory, "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", DAYS,
                 "-subj", "/CN=mspass cluster CA")
        _openssl(directory, "req", *key, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=mspass")
        _openssl(directory, "x509", "-req", "-in", "tls.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-set_serial", str(secrets.randbits(63)), "-out", "tls.pem", "-days", DAYS)
    finally:
        os.umask(old_umask)
        for name in ("ca.key", "tls.csr"):
            (directory / name).unlink(missing_ok=True)
    return tls_variables(directory)


def login_variables(password_file: Path) -> dict[str, str]:
    """The database login's variables, the password in `password_file`."""
    return {"MONGO_INITDB_ROOT_USERNAME": DB_USER, "MONGO_INITDB_ROOT_PASSWORD_FILE": str(password_file)}


def make_login(password_file: Path) -> dict[str, str]:
    """A random password in `password_file` (mode 0600), unless the file exists: a
    database keeps the user it was made with, so later clusters on its data reuse it."""
    if not password_file.exists():
        write_private(password_file, secrets.token_urlsafe(32), exclusive=True)
    return login_variables(password_file)


def spark_variables(secret_file: Path) -> dict[str, str]:
    return {"MSPASS_SPARK_SECRET_FILE": str(secret_file)}


def make_spark_secret(secret_file: Path) -> dict[str, str]:
    """A Spark cluster's shared secret (spark.authenticate) in `secret_file`, mode 0600."""
    write_private(secret_file, secrets.token_urlsafe(32), exclusive=True)
    return spark_variables(secret_file)


def remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def _openssl(cwd: Path, *args: str) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        raise CredentialsError(f"openssl {args[0]} failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
