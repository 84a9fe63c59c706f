"""A cluster with its credentials on (what mspass-hpc gives each job, mspass_roles.credentials):
dask over tls:// with the cluster's certificate and a database login. The MsPASS notebook runs
unchanged; a client without the certificate cannot reach the scheduler or the workers."""

from __future__ import annotations

import asyncio
import json
import ssl

import pytest

from mspass_roles import credentials

pytestmark = pytest.mark.process


@pytest.fixture
def secured(roles):
    """scheduler, one worker and the database, each started with the cluster's credentials."""
    env = {**credentials.make_tls(roles.tmp / "tls"), **credentials.make_login(roles.tmp / "db.password")}
    roles.start("db", "db", **env).wait_ready()
    roles.start("scheduler", "scheduler", **env).wait_ready()
    roles.start("worker", "worker", MSPASS_SCHEDULER_ADDRESS="127.0.0.1", **env).wait_ready()
    return env


def scheduler_state(roles) -> dict:
    return json.loads(next((roles.tmp / "run").glob("scheduler-*.json")).read_text())


def test_mspass_workflow_runs_unchanged_over_tls_with_a_login(roles, secured):
    roles.workflow(12, **secured)
    assert "tls://" in scheduler_state(roles)["services"][0]["summary"]


def test_without_the_clusters_certificate_no_one_reaches_scheduler_or_workers(roles, secured):
    from distributed import Client
    from distributed.security import Security

    port = int(roles.env["DASK_SCHEDULER_PORT"])
    ca = secured["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"]
    cert, key = secured["DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT"], secured["DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY"]

    # the holder of the certificate submits work, and learns the worker's address
    with Client(f"tls://127.0.0.1:{port}", timeout=20, set_as_default=False,
                security=Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key,
                                  require_encryption=True)) as client:
        assert client.submit(sum, [1, 2, 3]).result(timeout=60) == 6
        [worker] = client.scheduler_info()["workers"]
    assert worker.startswith("tls://")
    worker_port = int(worker.rsplit(":", 1)[1])

    # a client without it: plain dask, and TLS with a CA of its own
    with pytest.raises((OSError, TimeoutError)):
        Client(f"tcp://127.0.0.1:{port}", timeout=5, set_as_default=False)
    other = credentials.make_tls(roles.tmp / "another-cluster")
    with pytest.raises((OSError, TimeoutError)):
        Client(f"tls://127.0.0.1:{port}", timeout=5, set_as_default=False,
               security=Security(tls_ca_file=other["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"],
                                 tls_client_cert=other["DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT"],
                                 tls_client_key=other["DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY"],
                                 require_encryption=True))

    # and the handshake itself is refused without a certificate, on scheduler and worker alike
    for target in (port, worker_port):
        assert handshake(target, ca) == "refused"
        assert handshake(target, ca, cert, key) == "ok"


def handshake(port: int, ca: str, cert: str | None = None, key: str | None = None) -> str:
    """A TLS handshake (and one read: TLS 1.3 servers report a missing client certificate
    after the handshake) with the port, trusting the cluster's CA."""
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False
    if cert:
        context.load_cert_chain(cert, key)

    async def connect() -> str:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            try:
                await asyncio.wait_for(reader.read(1), 2)
            except asyncio.TimeoutError:
                return "ok"  # connected and waiting for our first message, as dask's comms do
            finally:
                writer.close()
            return "ok" if not reader.at_eof() else "refused"
        except (ssl.SSLError, ConnectionError):
            return "refused"

    return asyncio.run(connect())
