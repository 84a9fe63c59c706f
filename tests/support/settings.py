"""Settings built from a controlled environment, for the unit tests (no real PATH, cwd or
machine): work and run dirs under tmp_path, a fixed node name, a fake `which`."""

from __future__ import annotations

from pathlib import Path

from mspass_roles.settings import Settings


def fake_which(*found):
    return lambda name: f"/usr/bin/{name}" if name in found else None


def make_env(tmp_path: Path, **kw) -> dict[str, str]:
    """A controlled env: work and run dirs under tmp_path, a fixed node name.
    A keyword set to None removes that variable."""
    env = {
        "MSPASS_WORK_DIR": str(tmp_path / "work"),
        "MSPASS_RUN_DIR": str(tmp_path / "run"),
        "MSPASS_NODE_NAME": "node1",
    }
    for key, value in kw.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def make(tmp_path, role=None, found=("mongod", "ferretdb"), in_container=False, mspasspy=None,
         is_local=lambda address: True, **kw) -> Settings:
    """`mspasspy`: where the installed MsPASS package is (None: not installed); `is_local`:
    which addresses are this machine's (by default every one: plans for other nodes'
    addresses are made here)."""
    return Settings.from_env(make_env(tmp_path, **kw), role=role, which=fake_which(*found),
                             in_container=in_container, find_mspasspy=lambda: mspasspy, is_local=is_local)


def tls_env(tmp_path: Path, *who: str) -> dict[str, str]:
    """dask TLS variables naming placeholder files: the CA file, and a certificate and key
    for each dask role in `who` (scheduler, worker, client)."""
    files = tmp_path / "tls"
    files.mkdir(exist_ok=True)
    env = {"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(files / "ca.pem")}
    for name, what in (("ca.pem", "CERTIFICATE"), ("cert.pem", "CERTIFICATE"), ("key.pem", "PRIVATE KEY")):
        (files / name).write_text(f"-----BEGIN {what}-----\nAA==\n-----END {what}-----\n")  # markers only
    for role in who:
        env[f"DASK_DISTRIBUTED__COMM__TLS__{role.upper()}__CERT"] = str(files / "cert.pem")
        env[f"DASK_DISTRIBUTED__COMM__TLS__{role.upper()}__KEY"] = str(files / "key.pem")
    return env
