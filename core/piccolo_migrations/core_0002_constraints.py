"""Constraints the column API cannot express, identical on SQLite and PostgreSQL.

A separate migration because piccolo runs a migration's raw SQL before the tables it adds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Unique external ids and idempotency keys; the pending-outbox index."

STATEMENTS = (
    "CREATE UNIQUE INDEX orders_source_external_id ON orders (source, external_id) "
    "WHERE external_id IS NOT NULL",
    "CREATE UNIQUE INDEX idempotency_keys_scope_key ON idempotency_keys (scope, key)",
    "CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(create)
    return manager
