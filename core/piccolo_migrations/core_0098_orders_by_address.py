"""Open orders by place and time received: the 疑似重复 of a list's rows are open orders of the same
街道 or address received within a week. On a list of overdue orders those week windows span months
of mostly archived history; partial indexes holding only the orders still open let the reads skip
the archived ones (and cost intake nothing for them)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-07T23:40:00:000098"
VERSION = "1.38.0"
DESCRIPTION = "Open orders by place and time received."

OPEN = "status NOT IN ('archived', 'merged')"  # core.listing reads candidates with this very predicate
STATEMENTS = (
    f"CREATE INDEX IF NOT EXISTS orders_open_area_received ON orders (area, received_at) WHERE {OPEN}",
    f"CREATE INDEX IF NOT EXISTS orders_open_address_received ON orders (address, received_at) WHERE {OPEN}",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(create)
    return manager
