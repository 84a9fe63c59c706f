"""Spark standalone from the pyspark wheel: master, worker and the driver's configuration.

The wheel has no sbin/ scripts; `bin/spark-class` runs master and worker in the
foreground, which is what a supervisor wants. Everything Spark needs is in the wheel, so
nothing is downloaded at run time (HPC nodes are often offline).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
from pathlib import Path

from .files import write_private
from .plan import Service
from .settings import Address, Settings

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
#: the master's /json/ page once it has recovered its state and accepts workers
MASTER_ALIVE = r'"status"\s*:\s*"ALIVE"'
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise NotImplementedError("MSPASS_SCHEDULER='spark' needs pyspark, which is not installed here; "
                                  "valid here: dask")
    return Path(spec.origin).parent


def spark_class(main_class: str) -> list[str]:
    return [str(spark_home() / "bin" / "spark-class"), main_class]


def master_url(address: Address) -> str:
    return f"spark://{address.hostport}"


def daemon_env(s: Settings) -> dict[str, str]:
    env = {
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOG_DIR": str(s.log_dir),
        "PYSPARK_PYTHON": sys.executable,  # executors run the image's Python
    }
    if not s.binds_all:
        env["SPARK_LOCAL_IP"] = s.bind_address  # web UIs too
    return env


def address_toward(host: str, port: int) -> str:
    """This node's IP on the route to host (no packet is sent), else its host name."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((host, port))
            return sock.getsockname()[0]
    except OSError:
        return socket.gethostname()


def driver_conf(s: Settings) -> dict[str, str]:
    """spark-defaults.conf for the frontend: a notebook's SparkSession needs no settings."""
    master = s.scheduler_address
    assert master is not None, "settings require a scheduler address for a spark frontend"
    conf = {
        "spark.master": master_url(master),
        "spark.driver.host": s.spark_driver_host or address_toward(master.host, master.port),
        "spark.driver.bindAddress": s.bind_address or "0.0.0.0",
        "spark.driver.port": str(s.spark_driver_port),
        "spark.blockManager.port": str(s.spark_blockmanager_port),
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    for name, value in s.client_env().items():  # executors find the database like the notebook does
        if name in ("MSPASS_DB_ADDRESS", "MONGODB_PORT", "MSPASS_DB_URI"):
            conf[f"spark.executorEnv.{name}"] = value
    if s.db_credentials:  # those addresses then hold the login: Spark's UIs show them redacted
        conf["spark.redaction.regex"] = r"(?i)secret|password|token|access[.]key|MSPASS_DB_ADDRESS|MSPASS_DB_URI"
    return {**conf, **auth_conf(s)}


def auth_conf(s: Settings) -> dict[str, str]:
    """Spark's RPC authentication with the cluster's shared secret (standalone workers hand it
    to their executors themselves); {} without MSPASS_SPARK_SECRET."""
    if not s.spark_secret:
        return {}
    return {"spark.authenticate": "true", "spark.authenticate.secret": s.spark_secret}


def write_conf(path: Path, conf: dict[str, str]) -> None:
    """A Spark properties file only its owner reads (it may hold the secret), in a private dir."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, "".join(f"{key} {value}\n" for key, value in conf.items()))


def write_driver_conf(s: Settings, conf_dir: Path) -> None:
    write_conf(conf_dir / "spark-defaults.conf", driver_conf(s))


def with_auth(s: Settings, service: Service, role: str) -> Service:
    """A master or worker with MSPASS_SPARK_SECRET: its secret in a private properties file
    (`--properties-file`), never a `-D` option on the java command line that `ps` shows."""
    if not s.spark_secret:
        return service
    conf = s.run_dir / f"spark-{role}-{s.node_name}-{os.getpid()}" / "spark-auth.conf"
    service.argv += ["--properties-file", str(conf)]
    service.before_start = lambda: write_conf(conf, auth_conf(s))
    service.after_stop = lambda: shutil.rmtree(conf.parent, ignore_errors=True)
    return service
