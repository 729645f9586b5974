"""Piccolo's configuration, built from Huying's settings (``PICCOLO_CONF=core.piccolo_conf``).

Piccolo looks its engine up here for migrations; the running application binds the same engine.
Plugins with tables of their own add their piccolo app through the ``piccolo_apps`` hook.
"""

from piccolo.conf.apps import AppRegistry

from core.db import make_engine
from core.settings import load_settings

DB = make_engine(load_settings().database_url)


def app_modules(pm=None) -> list[str]:
    """The core's app first, then each plugin's (they depend on the core's tables)."""
    from core.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    return ["core.piccolo_app", *[app for apps in pm.hook.piccolo_apps() for app in apps]]


APP_REGISTRY = AppRegistry(apps=app_modules())
