"""The notebook-side helper finds services from the variables the frontend exports."""

import pytest

from mspass_roles import client


def test_database_uri_prefers_the_full_uri():
    env = {"MSPASS_DB_URI": "mongodb://u:p@db:27018/?authSource=admin", "MSPASS_DB_ADDRESS": "db"}
    assert client.database_uri(env) == "mongodb://u:p@db:27018/?authSource=admin"


def test_database_uri_from_host_and_port():
    assert client.database_uri({"MSPASS_DB_ADDRESS": "db", "MONGODB_PORT": "27019"}) == "mongodb://db:27019/"
    assert client.database_uri({}) == "mongodb://127.0.0.1:27017/"


def test_scheduler_kind_defaults_to_dask():
    assert client.scheduler_kind({}) == "dask"
    assert client.scheduler_kind({"MSPASS_SCHEDULER": "spark"}) == "spark"


def test_no_scheduler_is_a_clear_error():
    with pytest.raises(RuntimeError, match="MSPASS_SCHEDULER='none'"):
        client.get_scheduler({"MSPASS_SCHEDULER": "none"})
