"""Full-text indexes of orders and knowledge articles: FTS5 on SQLite, tsvector + GIN on PostgreSQL.

The only migration whose SQL differs by backend, because the two full-text engines differ; the
statements come from ``core.search`` so the application and the schema agree on one definition.
Existing orders are indexed when the platform starts (``core.search_upkeep.backfill``).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T22:40:41:000041"
VERSION = "1.38.0"
DESCRIPTION = "Full-text indexes of orders and knowledge articles."


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        from core.search import KNOWLEDGE_INDEX, ORDER_INDEX

        engine = engine_finder()
        for index in (ORDER_INDEX, KNOWLEDGE_INDEX):
            await index.create(engine)

    manager.add_raw(create)
    return manager
