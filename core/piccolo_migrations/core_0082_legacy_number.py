"""The outgoing system's number of an order brought in by ``huying import-history`` (null for
orders taken here): one imported order per old number, so an import run again adds nothing."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-30T08:00:00:000082"
VERSION = "1.38.0"
DESCRIPTION = "Orders keep the number the outgoing system gave them (history import)."

STATEMENTS = (
    "ALTER TABLE orders ADD COLUMN legacy_number VARCHAR(64) NULL DEFAULT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS orders_legacy_number ON orders (legacy_number)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(create)
    return manager
