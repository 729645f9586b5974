"""Migrations: the core's piccolo app and each plugin's, applied to an engine the caller owns.

Piccolo finds its engine and apps through a configuration module (``core.piccolo_conf``), which reads
``run_configuration`` here; ``migrate`` sets it to the given engine and plugin manager for the
duration of the run, so nothing is configured at import time and a test or a second platform
migrates its own database.
"""

from __future__ import annotations

import contextlib
import io
import os

from piccolo.engine.base import Engine

from core.db import prepare

PICCOLO_CONF = "core.piccolo_conf"
run_configuration: dict = {}  # the engine and apps that ``core.piccolo_conf`` hands piccolo during a run


@contextlib.contextmanager
def configured(engine, apps: list[str]):
    """Point piccolo's configuration at ``engine`` and ``apps`` for the length of a run."""
    previous = dict(run_configuration)
    run_configuration.update(engine=engine, apps=apps)
    try:
        yield
    finally:
        run_configuration.clear()
        run_configuration.update(previous)


def app_modules(pm) -> list[str]:
    """The core's app first, then each plugin's (they depend on the core's tables)."""
    return ["core.piccolo_app", *[app for apps in pm.hook.piccolo_apps() for app in apps]]


def app_configs(pm) -> list:
    """The piccolo ``AppConfig`` of the core and of every plugin with tables."""
    import importlib

    return [importlib.import_module(name).APP_CONFIG for name in app_modules(pm)]


async def migrate(engine: Engine, pm=None, *, verbose: bool = False) -> None:
    """Apply every app's migrations (the core's and any plugin's) to ``engine``, the same on both
    backends. ``pm`` names the plugins (by default the installed ones)."""
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.apps.migrations.tables import Migration

    from core.plugins import get_plugin_manager

    from core.db import bind_engine

    prepare(engine)
    os.environ.setdefault("PICCOLO_CONF", PICCOLO_CONF)  # where piccolo's own code looks
    Migration._meta.db = engine
    pm = pm or get_plugin_manager()
    # a migration's data step (a backfill) queries through the table classes: on this engine, not on
    # whichever one a platform of this process bound them to before (the other backend, in the tests)
    bind_engine(engine, [table for app in app_configs(pm) for table in app.table_classes])
    out = io.StringIO()
    with configured(engine, app_modules(pm)):
        with contextlib.nullcontext() if verbose else contextlib.redirect_stdout(out):
            result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}\n{out.getvalue()}")
