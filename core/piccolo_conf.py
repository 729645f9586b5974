"""Piccolo's configuration module (``PICCOLO_CONF=core.piccolo_conf``), configured by the caller.

``core.migrations.migrate`` sets the engine and the apps for the length of a run. Used by piccolo's
own command line instead (``piccolo migrations new core --auto``), ``DB`` and ``APP_REGISTRY`` are
built from the settings on first use — never when this module is imported.
"""

from __future__ import annotations

import contextlib

_configured: dict = {}


@contextlib.contextmanager
def configured(engine, apps: list[str]):
    previous = dict(_configured)
    _configured.update(engine=engine, apps=apps)
    try:
        yield
    finally:
        _configured.clear()
        _configured.update(previous)


def __getattr__(name: str):
    if name == "DB":
        if "engine" not in _configured:
            from core.db import make_engine
            from core.settings import load_settings

            _configured["engine"] = make_engine(load_settings().database_url)
        return _configured["engine"]
    if name == "APP_REGISTRY":
        from piccolo.conf.apps import AppRegistry

        if "apps" not in _configured:
            from core.migrations import app_modules
            from core.plugins import get_plugin_manager

            _configured["apps"] = app_modules(get_plugin_manager())
        return AppRegistry(apps=_configured["apps"])
    raise AttributeError(name)
