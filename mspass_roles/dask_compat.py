"""A dask client preload: the `Client` method MsPASS's documents call that `distributed` removed.

MsPASS's components page tells every parallel workflow to register its database plugin with

    dask_client.register_worker_plugin(MongoDBWorker(mspass_client))

`distributed` deprecated `Client.register_worker_plugin` in 2023.9.2 for `register_plugin`, and
the pinned release (2026.8.0) no longer has it: the page's code fails with AttributeError.
The frontend names this module in dask's own `distributed.client.preload` setting (Settings'
client_env), so every dask Client a notebook makes runs `dask_setup` below and gets the old
name back, as a thin alias of `register_plugin`. Nothing else of dask changes, and a client
whose `distributed` still has the method is left alone.

Cost: this module's import when a client starts (no dependencies, well under a millisecond).
The alternative, pinning a `distributed` that still has the method, would hold dask and
everything built on it at a 2025 release.
"""

from __future__ import annotations

import types

#: the module name the frontend adds to distributed.client.preload
MODULE = __name__


def register_worker_plugin(client, plugin=None, name=None, nanny=None, **kwargs):
    """`Client.register_worker_plugin` as distributed had it, for plugin instances (what
    MsPASS passes): `register_plugin` picks worker or nanny from the plugin's class, so
    `nanny` needs no handling. Constructor keywords (removed in 2023) are refused."""
    if kwargs:
        raise TypeError(f"register_worker_plugin: unexpected keyword argument(s) {', '.join(sorted(kwargs))}; "
                        "construct the plugin first, then register the instance")
    return client.register_plugin(plugin, name=name)


def dask_setup(client) -> None:
    """dask's preload hook: called once for each Client, as it starts."""
    if not hasattr(client, "register_worker_plugin"):
        client.register_worker_plugin = types.MethodType(register_worker_plugin, client)
