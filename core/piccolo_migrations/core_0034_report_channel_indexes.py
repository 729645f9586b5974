"""Indexes for the channels' report sections (a channel's orders received or completed in a period).

A separate migration because piccolo runs a migration's raw SQL before the tables it adds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T23:38:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Channel sections of the reports: facts by channel and moment."

STATEMENTS = (
    "CREATE INDEX report_facts_channel_received ON report_facts (channel, received)",
    "CREATE INDEX report_facts_channel_completed ON report_facts (channel, completed)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(create)
    return manager
