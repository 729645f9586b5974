"""A lease per kind of background work that only one process may do at a time. Without Redis every
``serve`` process ran the scheduled jobs (the daily model training among them, 0.7 GB apiece); the
process holding the ``scheduler`` lease now runs them, the others only deliver the outbox."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-07T05:00:00:000081"
VERSION = "1.38.0"
DESCRIPTION = "Job leases: one process runs the in-process schedule."

ID_COLUMN = {"postgres": "id SERIAL PRIMARY KEY", "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT"}
TABLE = ("CREATE TABLE IF NOT EXISTS job_leases ({id}, name VARCHAR(64) NOT NULL UNIQUE, "
         "holder VARCHAR(64) NOT NULL DEFAULT '', expires_at BIGINT NOT NULL DEFAULT 0)")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        await engine.run_ddl(TABLE.format(id=ID_COLUMN["postgres" if engine.engine_type == "postgres" else "sqlite"]))

    manager.add_raw(create)
    return manager
