"""Orders by address and time received: the 疑似重复 of a list's rows include orders at the same
address received within a week, read off this index instead of every order of that week."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-07T23:40:00:000098"
VERSION = "1.38.0"
DESCRIPTION = "Orders by address and time received."

STATEMENTS = ("CREATE INDEX IF NOT EXISTS orders_address_received ON orders (address, received_at)",)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(create)
    return manager
