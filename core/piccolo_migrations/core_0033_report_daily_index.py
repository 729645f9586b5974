"""The unique key of the daily sums, identical on both backends.

A separate migration because piccolo runs a migration's raw SQL before the tables it adds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T23:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "The daily sums: one row per day, dimension and value."

STATEMENTS = (
    "CREATE UNIQUE INDEX report_daily_day_dim_value ON report_daily (day, dim, value)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(create)
    return manager
