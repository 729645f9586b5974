"""Written-report templates an admin uploads (one per report kind, or one for all), and where a merged
department went (its orders, people and names moved to that one)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-07T10:00:00:000092"
VERSION = "1.38.0"
DESCRIPTION = "Written-report templates; departments merged into another."

ID_COLUMN = {"postgres": "id SERIAL PRIMARY KEY", "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT"}
STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS report_templates ({id}, kind VARCHAR(16) NOT NULL UNIQUE, "
    "filename VARCHAR(255) NOT NULL DEFAULT '', content TEXT NOT NULL DEFAULT '', digest VARCHAR(64) NOT NULL DEFAULT '', "
    "uploaded_by VARCHAR(128) NOT NULL DEFAULT '', uploaded_at TIMESTAMPTZ NOT NULL)",
    "ALTER TABLE departments ADD COLUMN merged_into VARCHAR(64) NULL DEFAULT NULL",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        id_column = ID_COLUMN["postgres" if engine.engine_type == "postgres" else "sqlite"]
        for sql in STATEMENTS:
            await engine.run_ddl(sql.format(id=id_column))

    manager.add_raw(create)
    return manager
