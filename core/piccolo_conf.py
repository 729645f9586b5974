"""Piccolo's configuration module (``PICCOLO_CONF=core.piccolo_conf``), configured by the caller.

``core.migrations.migrate`` sets the engine and the apps for the length of a run (``core.migrations.
configured``). Used by piccolo's own command line instead (``piccolo migrations new core --auto``),
``DB`` and ``APP_REGISTRY`` are built from the settings on first use — never when this module is
imported. This module reads ``core.migrations``; nothing in the core imports it (piccolo does).
"""

from __future__ import annotations


def __getattr__(name: str):
    from core import migrations

    if name == "DB":
        if "engine" not in migrations.run_configuration:
            from core.db import make_engine
            from core.settings import load_settings

            migrations.run_configuration["engine"] = make_engine(load_settings().database_url)
        return migrations.run_configuration["engine"]
    if name == "APP_REGISTRY":
        from piccolo.conf.apps import AppRegistry

        if "apps" not in migrations.run_configuration:
            from core.plugins import get_plugin_manager

            migrations.run_configuration["apps"] = migrations.app_modules(get_plugin_manager())
        return AppRegistry(apps=migrations.run_configuration["apps"])
    raise AttributeError(name)
