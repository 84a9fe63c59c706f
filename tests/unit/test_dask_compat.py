"""The client preload that gives notebooks MsPASS's documented `register_worker_plugin`."""

from __future__ import annotations

import ast

import pytest
from distributed import Client
from distributed.diagnostics.plugin import WorkerPlugin

from mspass_roles import dask_compat
from tests.support.settings import make


class Recording:
    """A client with distributed's current method only; records what it was given."""

    def __init__(self):
        self.registered = []

    def register_plugin(self, plugin, name=None):
        self.registered.append((plugin, name))
        return {"worker": {"status": "OK"}}


def test_the_pinned_distributed_lacks_the_method_the_preload_restores():
    # the reason the preload exists: if distributed brings it back, the preload leaves it alone
    assert not hasattr(Client, "register_worker_plugin")


def test_register_worker_plugin_hands_the_plugin_and_its_name_to_register_plugin():
    client, plugin = Recording(), WorkerPlugin()
    dask_compat.dask_setup(client)
    assert client.register_worker_plugin(plugin) == {"worker": {"status": "OK"}}
    client.register_worker_plugin(plugin, name="mongodb", nanny=False)
    assert client.registered == [(plugin, None), (plugin, "mongodb")]
    with pytest.raises(TypeError, match="construct the plugin first"):
        client.register_worker_plugin(WorkerPlugin, some_option=1)


def test_a_client_that_has_the_method_keeps_its_own():
    class Old(Recording):
        def register_worker_plugin(self, plugin):
            return "its own"

    client = Old()
    dask_compat.dask_setup(client)
    assert client.register_worker_plugin(WorkerPlugin()) == "its own"


def test_the_frontend_adds_the_preload_to_the_users_own(tmp_path):
    env = make(tmp_path, role="frontend", found=(), MSPASS_DB_ADDRESS="db", MSPASS_SCHEDULER_ADDRESS="sched").client_env()
    assert ast.literal_eval(env["DASK_DISTRIBUTED__CLIENT__PRELOAD"]) == [dask_compat.MODULE]
    for given in ("mine", "['mine']", '["mine", "mspass_roles.dask_compat"]'):
        s = make(tmp_path, role="frontend", found=(), MSPASS_DB_ADDRESS="db", MSPASS_SCHEDULER_ADDRESS="sched",
                 DASK_DISTRIBUTED__CLIENT__PRELOAD=given)
        assert ast.literal_eval(s.client_env()["DASK_DISTRIBUTED__CLIENT__PRELOAD"]) == ["mine", dask_compat.MODULE]


def test_a_preload_setting_that_names_no_modules_is_refused(tmp_path):
    from mspass_roles.settings import SettingsError

    with pytest.raises(SettingsError, match="DASK_DISTRIBUTED__CLIENT__PRELOAD='\\[1\\]' is not a module name"):
        make(tmp_path, DASK_DISTRIBUTED__CLIENT__PRELOAD="[1]")


def test_spark_notebooks_get_no_dask_preload(tmp_path):
    env = make(tmp_path, MSPASS_SCHEDULER="spark").client_env()
    assert "DASK_DISTRIBUTED__CLIENT__PRELOAD" not in env
