"""Indexes for the filters people actually use: a dispatcher's list of one street, newest first, read
off the street's index instead of sorting every order of the channel; and a report limited to one
department or street (a handler's view) read from that department's facts, not from all of them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T02:30:00:000070"
VERSION = "1.38.0"
DESCRIPTION = "Orders by street and time received; report facts by department and by street."

STATEMENTS = (
    "CREATE INDEX IF NOT EXISTS orders_area_received ON orders (area, received_at)",
    "CREATE INDEX IF NOT EXISTS report_facts_department ON report_facts (department)",
    "CREATE INDEX IF NOT EXISTS report_facts_area ON report_facts (area)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(create)
    return manager
