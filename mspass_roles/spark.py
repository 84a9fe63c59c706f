"""Spark standalone from the pyspark wheel: master, worker and the driver's configuration.

The wheel has no sbin/ scripts; `bin/spark-class` runs master and worker in the
foreground, which is what a supervisor wants. Everything Spark needs is in the wheel, so
nothing is downloaded at run time (HPC nodes are often offline).
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

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
    return conf


def write_driver_conf(s: Settings, conf_dir: Path) -> None:
    conf_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = [f"{key} {value}" for key, value in driver_conf(s).items()]
    (conf_dir / "spark-defaults.conf").write_text("\n".join(lines) + "\n")
