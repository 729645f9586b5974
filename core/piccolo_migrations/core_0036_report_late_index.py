"""The index that finds the orders still open and overdue at a period's end among the late ones.

A separate migration because piccolo runs a migration's raw SQL before the tables it adds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T23:51:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Open overdue orders at a period end, found from the late ones only."

STATEMENTS = (
    "CREATE INDEX report_facts_late ON report_facts (late_from, closed)",
    # facts derived before late_from existed lack it: the next refresh derives them all again
    "DELETE FROM report_state WHERE key = 'facts.last_event_id'",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(create)
    return manager
