"""Indexes the reports, the early warnings and the repeat-caller check need, identical on both backends.

A separate migration because piccolo runs a migration's raw SQL before the tables it adds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T22:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Report indexes: repeat callers, open overdue orders, versions of a snapshot."

STATEMENTS = (
    # 重复来电: the same phone about the same matter within 30 days, looked up per new order
    "CREATE INDEX orders_caller_matter ON orders (citizen_phone, channel, category, received_at)",
    # 按时办结率: orders still open at a period's end whose handling deadline has passed
    "CREATE INDEX report_facts_open_overdue ON report_facts (closed, handle_due)",
    "CREATE UNIQUE INDEX report_snapshots_version ON report_snapshots (kind, start, scope, version)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(create)
    return manager
