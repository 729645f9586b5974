"""An index for the console's street filter: a dispatcher's list of one street, newest first, is read
from the index instead of sorting every order of the channel."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T02:30:00:000070"
VERSION = "1.38.0"
DESCRIPTION = "Orders by street and time received."


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        await engine_finder().run_ddl("CREATE INDEX IF NOT EXISTS orders_area_received ON orders (area, received_at)")

    manager.add_raw(create)
    return manager
