"""The plugin host: a plugin-manager factory and the registry of channels it yields.

Nothing is registered at import time. ``get_plugin_manager()`` builds a fresh manager from the core's
built-in plugins, every subpackage of ``plugins/`` and the ``huying.channels`` entry point group, then
``check_pending()`` so a misspelled hook implementation fails at start-up instead of never running.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from functools import cached_property
from typing import Any

import pluggy

from core import hookspecs
from core.channels import Channel
from core.lifecycle import CORE_ACTIONS, Lifecycle

ENTRY_POINT_GROUP = "huying.channels"
BUILTIN_PLUGINS = ("core.builtins.hotline", "core.builtins.city_sync", "core.builtins.sweeps",
                   "core.builtins.knowledge_jobs",
                   "core.builtins.notifications", "core.builtins.boards", "core.builtins.notify",
                   "core.builtins.reports")


def _package_plugins() -> list[Any]:
    import plugins

    return [importlib.import_module(f"plugins.{m.name}")
            for m in pkgutil.iter_modules(plugins.__path__) if m.ispkg]


def get_plugin_manager(extra: Iterable[Any] = (), *, entry_points: bool = True,
                       package_plugins: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if package_plugins:
        for module in _package_plugins():
            pm.register(module, name=module.__name__)
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


class Channels:
    """The channels the plugins declare, and hook callers scoped to one channel's plugin."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self._owner: dict[str, object] = {}
        self._channels: dict[str, Channel] = {}
        for impl in pm.hook.register_channel.get_hookimpls():
            channel = impl.function()
            if channel.code in self._channels:
                raise ValueError(f"channel {channel.code!r} is registered by two plugins")
            self._owner[channel.code] = impl.plugin
            self._channels[channel.code] = channel
        self._callers: dict[tuple[str, str], Any] = {}
        self._lifecycles: dict[str, Lifecycle] = {}

    def __iter__(self):
        return iter(self._channels.values())

    def __contains__(self, code: str) -> bool:
        return code in self._channels

    def get(self, code: str) -> Channel | None:
        return self._channels.get(code)

    @cached_property
    def default(self) -> Channel:
        return self._channels["hotline"]

    def hook(self, code: str, name: str):
        """The hook ``name`` as called for ``code``'s orders: other channels' plugins left out."""
        key = (code, name)
        if key not in self._callers:
            others = [p for c, p in self._owner.items() if c != code and p is not self._owner.get(code)]
            self._callers[key] = self.pm.subset_hook_caller(name, remove_plugins=others)
        return self._callers[key]

    def lifecycle(self, code: str) -> Lifecycle:
        if code not in self._lifecycles:
            channel = self._channels[code]
            extra = [a for actions in self.hook(code, "workflow_actions")(channel=channel) for a in actions]
            self._lifecycles[code] = Lifecycle([*CORE_ACTIONS, *extra])
        return self._lifecycles[code]
