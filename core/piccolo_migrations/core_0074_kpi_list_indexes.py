"""The order lists behind the KPI page's numbers (``?kpi=completed&kpi_from=…``): each moment's facts
in one covering index with the receiving time, the order id and the dimensions, so a month's
completions of one department are paged and counted off the index (a few milliseconds at 410,000
orders) instead of reading every fact of that department (40–80 ms)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T05:40:00:000074"
VERSION = "1.38.0"
DESCRIPTION = "Report facts by first dispatch, completion and callback, covering the KPI order lists."

STATEMENTS = tuple(
    f"CREATE INDEX IF NOT EXISTS report_facts_{moment}_list "
    f"ON report_facts ({moment}, received, order_id, department, channel, area)"
    for moment in ("first_dispatch", "completed", "rated"))


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(create)
    return manager
