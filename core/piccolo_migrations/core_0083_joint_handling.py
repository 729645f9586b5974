"""联合办理: each order's assisting (协办) departments and their parts, kept on the order as JSON and
mirrored, one row per part, in ``assisting_parts`` for the departments' lists and the reports."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-07T10:00:00:000083"
VERSION = "1.38.0"
DESCRIPTION = "Joint handling: assisting departments' parts of an order."

ID_COLUMN = {"postgres": "id SERIAL PRIMARY KEY", "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT"}
STATEMENTS = (
    "ALTER TABLE orders ADD COLUMN assisting JSON NOT NULL DEFAULT '[]'",
    "CREATE TABLE IF NOT EXISTS assisting_parts ({id}, order_id BIGINT NOT NULL, "
    "department VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, assigned_at TIMESTAMPTZ NOT NULL, "
    "due TIMESTAMPTZ NOT NULL, settled_at TIMESTAMPTZ NULL DEFAULT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS assisting_parts_order_department ON assisting_parts (order_id, department)",
    "CREATE INDEX IF NOT EXISTS assisting_parts_department_status ON assisting_parts (department, status)",
    "CREATE INDEX IF NOT EXISTS assisting_parts_assigned_at ON assisting_parts (assigned_at)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        id_column = ID_COLUMN["postgres" if engine.engine_type == "postgres" else "sqlite"]
        for sql in STATEMENTS:
            await engine.run_ddl(sql.replace("{id}", id_column))

    manager.add_raw(create)
    return manager
